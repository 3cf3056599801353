"""Format conversion and header metadata."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from retouch.image_utils.ops._common import encode, open_keeping_alpha
from retouch.runtime.images import ImageLimits
from retouch.runtime.problems import field_error
from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.image_utils import ConvertRequest, ConvertResponse, MetadataRequest, MetadataResponse

__all__ = ["convert", "metadata"]

_ORIENTATION_TAG = 0x0112
#: EXIF orientations that swap width and height when the picture is displayed upright.
_TRANSPOSING = {5, 6, 7, 8}


def convert(req: ConvertRequest, limits: ImageLimits) -> ConvertResponse:
    """Re-encode as PNG, WebP or JPEG (upright; alpha kept except in JPEG)."""
    image = open_keeping_alpha(req.image, "image", limits)
    data, content_type = encode(image, req.format, req.quality)
    return ConvertResponse(
        image=Base64Bytes(data), width=image.width, height=image.height, content_type=content_type, size_bytes=len(data)
    )


def metadata(req: MetadataRequest, limits: ImageLimits) -> MetadataResponse:
    """Size, format, mode and orientation from the header; no pixel is decoded."""
    data = bytes(req.image)
    if not data:
        raise field_error("image", "image data is empty")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise field_error("image", "not a recognised image (PNG, JPEG, WebP, ...)") from None
    except Image.DecompressionBombError as exc:
        raise field_error("image", f"image refused as a decompression bomb: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise field_error("image", f"image header is unreadable: {exc}") from None
    with image:
        limits.check(image.width, image.height, "image")
        try:
            orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
        except (OSError, SyntaxError, ValueError, TypeError):
            orientation = 1  # a broken EXIF block is treated as absent, as decoding does
        if orientation not in range(1, 9):
            orientation = 1
        stored_w, stored_h = image.size
        width, height = (stored_h, stored_w) if orientation in _TRANSPOSING else (stored_w, stored_h)
        fmt = (image.format or "").lower()
        has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
        return MetadataResponse(
            width=width,
            height=height,
            stored_width=stored_w,
            stored_height=stored_h,
            format=fmt,
            mode=image.mode,
            has_alpha=has_alpha,
            orientation=orientation,
            content_type=Image.MIME.get(image.format or ""),
            size_bytes=len(data),
        )
