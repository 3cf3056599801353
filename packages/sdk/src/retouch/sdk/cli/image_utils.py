"""Image-utils subcommands (``retouch extract-object ...``); filled in by the image-utils work."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add one subcommand per image-utils operation."""
