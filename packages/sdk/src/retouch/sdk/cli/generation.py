"""``retouch`` subcommands for direct calls to the generation service (/api/generation/*, internal)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands."""
