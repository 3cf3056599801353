"""White balance as an instant preview: the same estimate and correction the classic engine's
``white-balance`` job applies (:mod:`retouch.runtime.white_balance`), so the preview shows what the
job will do.
"""

from __future__ import annotations

from retouch.image_utils.ops._common import encode, open_keeping_alpha
from retouch.runtime.images import ImageLimits
from retouch.runtime.white_balance import white_balance as balance
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import WhiteBalanceRequest, WhiteBalanceResponse

__all__ = ["white_balance"]


def white_balance(req: WhiteBalanceRequest, limits: ImageLimits) -> WhiteBalanceResponse:
    """The image with the estimated gains applied (alpha kept; greyscale has nothing to balance)."""
    image = open_keeping_alpha(req.image, "image", limits)
    out, gains = balance(image, req.method, req.percentile, req.strength)
    data, content_type = encode(out, req.format, req.quality)
    return WhiteBalanceResponse(
        image=Base64Bytes(data),
        width=out.width,
        height=out.height,
        content_type=content_type,
        gains=[round(float(g), 6) for g in gains],
        method=req.method,
    )
