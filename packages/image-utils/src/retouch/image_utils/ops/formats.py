"""Format conversion and header metadata."""

from __future__ import annotations

from retouch.image_utils.ops._common import encode, open_keeping_alpha
from retouch.runtime.images import ImageLimits, probe_image
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import ConvertRequest, ConvertResponse, MetadataRequest, MetadataResponse

__all__ = ["convert", "metadata"]


def convert(req: ConvertRequest, limits: ImageLimits) -> ConvertResponse:
    """Re-encode as PNG, WebP or JPEG (upright; alpha kept except in JPEG)."""
    image = open_keeping_alpha(req.image, "image", limits)
    data, content_type = encode(image, req.format, req.quality)
    return ConvertResponse(
        image=Base64Bytes(data), width=image.width, height=image.height, content_type=content_type, size_bytes=len(data)
    )


def metadata(req: MetadataRequest, limits: ImageLimits) -> MetadataResponse:
    """Size, format, mode and orientation from the header; no pixel is decoded (the runtime's probe)."""
    return probe_image(bytes(req.image), field="image", limits=limits)
