"""Mask operations in true pixels: grow, shrink, feather, invert, threshold.

Distances are Euclidean (OpenCV's exact distance transform), so growing by ``n`` is a dilation by
a disk of radius ``n``, and the result does not depend on the boundary's direction. The image
border is not a boundary: a mask touching the edge keeps touching it when shrunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.image_utils.ops._common import as_u8, encode
from retouch.runtime.images import ImageLimits, open_mask
from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.image_utils import MaskRequest, MaskResponse

__all__ = ["apply_mask_operation", "feather", "grow", "mask_operation", "shrink"]

Mask = NDArray[np.uint8]


def mask_operation(req: MaskRequest, limits: ImageLimits) -> MaskResponse:
    """Decode the mask, apply ``req.operation``, encode the result as a PNG (mode L)."""
    mask = np.asarray(open_mask(req.mask, field="mask", limits=limits))
    out = apply_mask_operation(mask, req.operation, req.amount, req.threshold)
    data, content_type = encode(Image.fromarray(out, "L"), "png")
    return MaskResponse(
        mask=Base64Bytes(data),
        width=out.shape[1],
        height=out.shape[0],
        area=int(np.count_nonzero(out > 127)),
        content_type=content_type,
    )


def apply_mask_operation(mask: Mask, operation: str, amount: float, threshold: int) -> Mask:
    """One operation on a ``uint8`` mask array."""
    if operation == "invert":
        return 255 - mask
    inside = mask > threshold
    if operation == "grow":
        inside = grow(inside, amount)
    elif operation == "shrink":
        inside = shrink(inside, amount)
    elif operation == "feather":
        return feather(inside, amount)
    elif operation != "threshold":  # pragma: no cover - the schema only lets the five through
        raise ValueError(f"unknown mask operation {operation!r}")
    return np.where(inside, np.uint8(255), np.uint8(0))


def _distance_to_zero(nonzero: NDArray[np.bool_]) -> NDArray[np.float32]:
    """For every ``True`` pixel, the distance to the nearest ``False`` pixel centre (huge if none)."""
    import cv2

    distances = cv2.distanceTransform(nonzero.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.asarray(distances, dtype=np.float32)


def grow(inside: NDArray[np.bool_], amount: float) -> NDArray[np.bool_]:
    """Add every pixel within ``amount`` pixels of the mask (dilation by a disk)."""
    if amount <= 0 or not inside.any():
        return inside
    result: NDArray[np.bool_] = _distance_to_zero(~inside) <= amount
    return result


def shrink(inside: NDArray[np.bool_], amount: float) -> NDArray[np.bool_]:
    """Keep the pixels farther than ``amount`` from the outside (erosion by a disk)."""
    if amount <= 0 or inside.all():
        return inside
    result: NDArray[np.bool_] = _distance_to_zero(inside) > amount
    return result


def feather(inside: NDArray[np.bool_], amount: float) -> Mask:
    """A linear ramp ``amount`` pixels wide centred on the boundary (0 outside, 255 inside)."""
    if amount <= 0 or inside.all() or not inside.any():
        return np.where(inside, np.uint8(255), np.uint8(0))
    # Signed distance to the boundary, which lies half-way between an inside and an outside centre.
    signed: Any = np.where(inside, _distance_to_zero(inside) - 0.5, 0.5 - _distance_to_zero(~inside))
    return as_u8(np.clip(0.5 + signed / amount, 0.0, 1.0) * 255.0)
