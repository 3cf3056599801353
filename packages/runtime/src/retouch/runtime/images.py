"""Image decoding with limits (decompression bombs are refused from the header, before any pixel
is decoded), EXIF orientation applied, and encoding to PNG/WebP/JPEG."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.settings import ServiceSettings

__all__ = ["CONTENT_TYPES", "ImageFormat", "ImageLimits", "encode_image", "open_image", "open_mask"]

ImageFormat = Literal["png", "webp", "jpeg"]
CONTENT_TYPES: dict[str, str] = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG"}

# Our own side/pixel checks run first; Pillow's guard stays on as a second line.
Image.MAX_IMAGE_PIXELS = 200_000_000


@dataclass(frozen=True)
class ImageLimits:
    """The largest image a service decodes."""

    max_pixels: int = 50_000_000
    max_side: int = 12_000

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ImageLimits:
        """The limits configured by ``RETOUCH_MAX_IMAGE_PIXELS`` / ``RETOUCH_MAX_IMAGE_SIDE``."""
        return cls(max_pixels=settings.max_image_pixels, max_side=settings.max_image_side)

    def check(self, width: int, height: int, field: str) -> None:
        """Refuse ``width`` x ``height`` if over a limit (413 naming the field and the limit)."""
        if width <= 0 or height <= 0:
            raise field_error(field, f"image has an empty size {width}x{height}")
        if width > self.max_side or height > self.max_side:
            raise field_error(
                field,
                f"image is {width}x{height}; the longest side allowed is {self.max_side} (RETOUCH_MAX_IMAGE_SIDE)",
                413,
            )
        if width * height > self.max_pixels:
            raise field_error(
                field,
                f"image has {width * height} pixels; at most {self.max_pixels} are allowed (RETOUCH_MAX_IMAGE_PIXELS)",
                413,
            )


def open_image(
    data: bytes, *, field: str = "image", limits: ImageLimits | None = None, mode: str | None = "RGB"
) -> Image.Image:
    """Decode ``data`` into a loaded PIL image in ``mode`` (``None`` keeps the file's mode),
    upright per its EXIF orientation. Errors are 4xx problems naming ``field``."""
    limits = limits or ImageLimits()
    if not data:
        raise field_error(field, "image data is empty")
    image: Image.Image
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise field_error(field, "not a recognised image (PNG, JPEG, WebP, ...)") from None
    except Image.DecompressionBombError as exc:
        raise field_error(field, f"image refused as a decompression bomb: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise field_error(field, f"image header is unreadable: {exc}") from None
    # The orientation swap does not change the pixel count; check the stored size before loading.
    limits.check(image.width, image.height, field)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise field_error(field, f"image data is truncated or corrupt: {exc}") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - our limits come first
        raise field_error(field, f"image refused as a decompression bomb: {exc}", 413) from None
    # A broken EXIF block should not reject a decodable picture.
    with contextlib.suppress(OSError, SyntaxError, ValueError, KeyError):
        image = ImageOps.exif_transpose(image)
    if mode is not None and image.mode != mode:
        if (mode == "RGB" and image.mode in ("RGBA", "LA", "PA")) or (
            image.mode == "P" and "transparency" in image.info
        ):
            image = image.convert("RGBA")
            if mode == "RGB":
                background = Image.new("RGB", image.size, (255, 255, 255))
                background.paste(image, mask=image.getchannel("A"))
                image = background
        image = image.convert(mode) if image.mode != mode else image
    return image


def open_mask(
    data: bytes,
    *,
    field: str = "mask",
    limits: ImageLimits | None = None,
    size: tuple[int, int] | None = None,
    resize: bool = False,
) -> Image.Image:
    """Decode a mask as mode ``L`` (white means "edit here"); an alpha-only mask uses its alpha.

    With ``size``: a mask of another size is resized (``resize=True``) or refused with a 422.
    """
    image = open_image(data, field=field, limits=limits, mode=None)
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema() != (255, 255):
        colour = image.convert("L")
        # A transparent PNG whose colour is uniform is an alpha mask; otherwise the colour counts.
        mask = image.getchannel("A") if colour.getextrema()[0] == colour.getextrema()[1] else colour
    else:
        mask = image.convert("L")
    if size is not None and mask.size != size:
        if not resize:
            raise field_error(field, f"mask is {mask.width}x{mask.height} but the image is {size[0]}x{size[1]}")
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return mask


def encode_image(image: Image.Image, fmt: str = "png", quality: int | None = None) -> bytes:
    """Encode ``image`` as ``png``, ``webp`` or ``jpeg`` (JPEG drops alpha onto white)."""
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in _PIL_FORMATS:
        raise ProblemError(422, f"format: unsupported output format {fmt!r}; use png, webp or jpeg")
    buf = io.BytesIO()
    params: dict[str, object] = {}
    if fmt == "jpeg":
        if image.mode not in ("RGB", "L"):
            rgba = image.convert("RGBA")
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        params["quality"] = quality if quality is not None else 92
    elif fmt == "webp":
        if quality is None:
            # exact: keep the colour under fully transparent pixels (a cut-out's hidden RGB).
            params.update(lossless=True, exact=True)
        else:
            params["quality"] = quality
    else:
        # zlib level 1: several times faster than the default 6 on photos for ~10% more bytes;
        # PNG is always lossless, so "quality" only trades size for time (100 = fastest).
        level = 1 if quality is None else 1 + (100 - max(1, min(100, quality))) * 8 // 99
        params["compress_level"] = level
    image.save(buf, format=_PIL_FORMATS[fmt], **params)
    return buf.getvalue()
