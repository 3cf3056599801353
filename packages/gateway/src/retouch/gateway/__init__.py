"""retouch-gateway: the single public entry point (the gateway).

Build the service with ``retouch.gateway.app.create_app``; importing this package loads nothing else.
"""

from __future__ import annotations

from retouch.gateway.__about__ import __version__

__all__ = ["__version__"]
