"""What every engine's mask goes through: fill small holes, grow or shrink, feather.

Masks here are ``uint8`` arrays, 255 inside and 0 outside (feathering adds grey levels).
Growing and shrinking use the exact Euclidean distance, so ``+5`` adds a ring five pixels wide
all round, corners included.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["adjust_border", "bbox_of", "feather", "fill_holes", "finish"]


def fill_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill enclosed background regions of at most ``max_area`` pixels."""
    if max_area <= 0 or not mask.any():
        return mask
    background = (mask == 0).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    height, width = mask.shape
    x, y, w, h, area = (stats[:, i] for i in range(5))
    touches_edge = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    fill = ~touches_edge & (area <= max_area)
    fill[0] = False  # label 0 is the mask itself
    if not fill.any():
        return mask
    return np.where(fill[labels], 255, mask).astype(np.uint8)


def adjust_border(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the mask by ``pixels`` (shrink when negative), by Euclidean distance."""
    if pixels == 0:
        return mask
    inside = mask > 127
    if pixels > 0:
        # Distance of each outside pixel to the nearest inside pixel.
        distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        grown = inside | (distance <= pixels)
        return np.where(grown, 255, 0).astype(np.uint8)
    # Pixels outside the picture count as outside the mask, so shrinking also works at the edges.
    padded = cv2.copyMakeBorder(inside.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return np.where(distance > -pixels, 255, 0).astype(np.uint8)


def feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A soft edge: the mask blurred with a Gaussian of standard deviation ``sigma`` pixels."""
    if sigma <= 0:
        return mask
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)


def bbox_of(mask: np.ndarray) -> list[int] | None:
    """``[x_min, y_min, x_max, y_max]`` (max edges exclusive) of the pixels above 127, or ``None``."""
    inside = mask > 127
    rows = np.flatnonzero(inside.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(inside.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def finish(mask: np.ndarray, *, hole_area: int, border_adjustment: int, blur_sigma: float) -> np.ndarray:
    """The shared post-processing, in order: fill holes, adjust the border, feather."""
    mask = fill_holes(mask, hole_area)
    mask = adjust_border(mask, border_adjustment)
    return feather(mask, blur_sigma)
