"""Putting an engine's output back into the input so that nothing outside the edit changes.

Every pixel farther than ``grow_px`` from the edit mask is copied from the input bit for bit; inside
the mask the edit is used as is; in the band between, the two are feathered so no seam shows.

A model that removes or inserts an object also changes what the object casts next to it: its shadow
and its reflection, mostly below it. :func:`edit_region` is the mask a model's output is
composited over: the mask, extended downwards by a share of its height and widened all round.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.runtime.masks import binary, feather_alpha, to_u8
from retouch.runtime.masks import grow as grow_region

__all__ = ["binary", "composite", "edit_region", "grow", "protected"]

Bool2D = NDArray[np.bool_]


def _dilate(region: Bool2D, px: int) -> Bool2D:
    # The runtime's Euclidean grow (the image-utils "grow" and the smart mask's border_adjustment).
    return grow_region(region, px) if px > 0 else region.copy()


def grow(mask: Image.Image, px: int) -> Image.Image:
    """``mask`` grown by ``px`` pixels (every pixel within ``px`` of it), as a binary mode-L mask."""
    return Image.fromarray(to_u8(_dilate(binary(mask), px)), "L")


def protected(mask: Image.Image, grow_px: int) -> Bool2D:
    """Where :func:`composite` keeps the input's pixels exactly: beyond ``grow_px`` of the mask."""
    return ~_dilate(binary(mask), grow_px)


def _alpha(region: Bool2D, grow_px: int) -> NDArray[np.float32]:
    if grow_px <= 0:
        return region.astype(np.float32)
    # The image-utils feather ramp, grow_px wide, centred grow_px / 2 outside the mask: 1 on the
    # mask, fading to 0 at grow_px from it.
    alpha = feather_alpha(grow_region(region, grow_px / 2), grow_px)
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


def edit_region(mask: Image.Image, *, around_px: int, below_share: float, around_share: float = 0.08) -> Image.Image:
    """Where a model's output replaces the input: ``mask`` extended downwards by ``below_share`` of
    its height (the shadow or reflection an object casts), then grown all round by the larger of
    ``around_px`` and ``around_share`` of its longer side (a contact shadow, a halo). Mode L, 0/255."""
    import cv2

    region = binary(mask)
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        return Image.fromarray(region.astype(np.uint8) * 255, "L")
    height = int(rows[-1] - rows[0] + 1)
    width = int(cols[-1] - cols[0] + 1)
    below = round(below_share * height)
    smeared = region.astype(np.uint8)
    if below > 0:
        # A column kernel anchored at its bottom row: every pixel takes the maximum of those above it.
        kernel = np.ones((below + 1, 1), np.uint8)
        smeared = np.asarray(cv2.dilate(smeared, kernel, anchor=(0, below)))
    around = max(around_px, round(around_share * max(width, height)))
    grown = _dilate(smeared > 0, around)
    return Image.fromarray(grown.astype(np.uint8) * 255, "L")
