"""retouch-segmentation: smart masks by click, box or stroke (the segmentation service).

Build the service with ``retouch.segmentation.app.create_app``; importing this package loads nothing else.
"""

from __future__ import annotations

from retouch.segmentation.__about__ import __version__

__all__ = ["__version__"]
