"""retouch-local: the whole retouch stack on one machine (``retouch-local serve``)."""

from __future__ import annotations

from retouch.local.__about__ import __version__
from retouch.local.services import GATEWAY, ServiceSpec, StackError, discover_services
from retouch.local.stack import ChildExited, Stack, StackInterrupted, StackSettings

__all__ = [
    "GATEWAY",
    "ChildExited",
    "ServiceSpec",
    "Stack",
    "StackError",
    "StackInterrupted",
    "StackSettings",
    "__version__",
    "discover_services",
]
