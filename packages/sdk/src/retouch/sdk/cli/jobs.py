"""``retouch`` subcommands for async generation jobs (/api/generate*)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands."""
