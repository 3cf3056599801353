"""retouch-generation: removal, insertion and white balance behind one engine protocol.

``retouch.generation.run(request, on_event, cancelled)`` edits in-process (no HTTP);
``retouch.generation.app:create_app`` is the HTTP service.
"""

from __future__ import annotations

from retouch.generation.__about__ import __version__
from retouch.generation.runner import Runner, default_runner, error_event, run

__all__ = ["Runner", "__version__", "default_runner", "error_event", "run"]
