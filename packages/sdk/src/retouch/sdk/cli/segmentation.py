"""``retouch`` subcommands for smart masks (/api/smart-mask)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands."""
