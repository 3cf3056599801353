"""Mask operations in true pixels: grow, shrink, feather, invert, threshold.

Grow, shrink and feather are :mod:`retouch.runtime.masks` (Euclidean distances; the image border
is not a boundary, so a mask touching the edge keeps touching it when shrunk), the same functions
the smart mask's ``border_adjustment`` and the generation service's compositing use.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.image_utils.ops._common import encode
from retouch.runtime.images import ImageLimits, open_mask
from retouch.runtime.masks import feather, grow, shrink, to_u8
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import MaskRequest, MaskResponse

__all__ = ["apply_mask_operation", "mask_operation"]

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
    return to_u8(inside)
