"""retouch-image-utils: CPU image and mask operations (the image-utils service).

Build the service with ``retouch.image_utils.app.create_app``; importing this package loads nothing else.
"""

from __future__ import annotations

from retouch.image_utils.__about__ import __version__

__all__ = ["__version__"]
