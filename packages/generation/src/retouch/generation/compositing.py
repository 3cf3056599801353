"""Putting an engine's output back into the input so that nothing outside the edit changes.

Every pixel farther than ``grow_px`` from the edit mask is copied from the input bit for bit; inside
the mask the edit is used as is; in the band between, the two are feathered so no seam shows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["binary", "composite", "grow", "protected"]

Bool2D = NDArray[np.bool_]


def binary(mask: Image.Image) -> Bool2D:
    """The edit region of a mode-L mask: white (>127) means "edit here"."""
    return np.asarray(mask.convert("L")) > 127


def _dilate(region: Bool2D, px: int) -> Bool2D:
    if px <= 0:
        return region.copy()
    import cv2  # OpenCV is imported where it is used, keeping the service's import light

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return np.asarray(cv2.dilate(region.astype(np.uint8), kernel)) > 0


def grow(mask: Image.Image, px: int) -> Image.Image:
    """``mask`` grown by ``px`` pixels (a round structuring element), as a binary mode-L mask."""
    return Image.fromarray((_dilate(binary(mask), px) * 255).astype(np.uint8), "L")


def protected(mask: Image.Image, grow_px: int) -> Bool2D:
    """Where :func:`composite` keeps the input's pixels exactly: beyond ``grow_px`` of the mask."""
    return ~_dilate(binary(mask), grow_px)


def _alpha(region: Bool2D, grow_px: int) -> NDArray[np.float32]:
    if grow_px <= 0:
        return region.astype(np.float32)
    import cv2

    inner = _dilate(region, grow_px // 2).astype(np.float32)
    sigma = max(grow_px / 4.0, 0.5)
    alpha = np.asarray(cv2.GaussianBlur(inner, (0, 0), sigma), dtype=np.float32)
    alpha = np.maximum(alpha, region.astype(np.float32))
    alpha[~_dilate(region, grow_px)] = 0.0
    return alpha


def composite(original: Image.Image, edited: Image.Image, mask: Image.Image, grow_px: int) -> Image.Image:
    """``edited`` inside ``mask``, ``original`` beyond ``grow_px`` of it, feathered in between.

    All three must have the same size; the result has ``original``'s mode.
    """
    if edited.size != original.size or mask.size != original.size:
        raise ValueError(f"sizes differ: original {original.size}, edited {edited.size}, mask {mask.size}")
    base = np.asarray(original)
    edit = np.asarray(edited.convert(original.mode))
    alpha = _alpha(binary(mask), grow_px)
    if base.ndim == 3:
        alpha = alpha[..., None]
    mixed = base.astype(np.float32) + (edit.astype(np.float32) - base.astype(np.float32)) * alpha
    result = np.where(alpha > 0, np.clip(np.rint(mixed), 0, 255).astype(np.uint8), base)
    return Image.fromarray(result, original.mode)
