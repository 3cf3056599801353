"""The classic engine's white balance: :mod:`retouch.runtime.white_balance`, the one estimate the
image-utils preview uses too (so the preview shows what the job does)."""

from __future__ import annotations

from PIL import Image

from retouch.runtime.white_balance import estimate_illuminant
from retouch.runtime.white_balance import white_balance as _balance

__all__ = ["estimate_illuminant", "white_balance"]


def white_balance(image: Image.Image) -> Image.Image:
    """``image`` (RGB) corrected with the robust estimate at full strength."""
    balanced, _ = _balance(image.convert("RGB"))
    return balanced
