"""Decoding, encoding and resampling helpers shared by the operations."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.runtime.images import CONTENT_TYPES, ImageLimits, encode_image, open_image

__all__ = ["RESAMPLE", "as_u8", "check_output", "encode", "open_keeping_alpha", "resize"]

RESAMPLE: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def open_keeping_alpha(data: bytes, field: str, limits: ImageLimits) -> Image.Image:
    """Decode as ``RGBA`` when the file has transparency, ``L`` when it is greyscale, else ``RGB``."""
    image = open_image(data, field=field, limits=limits, mode=None)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode == "L":
        return image
    if image.mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
        return image.convert("L")
    return image.convert("RGB")


def check_output(limits: ImageLimits, width: int, height: int, field: str) -> None:
    """Refuse to create an image over the configured limits (a 413/422 naming ``field``)."""
    limits.check(width, height, field)


def resize(image: Image.Image, size: tuple[int, int], resample: str) -> Image.Image:
    """``image`` at ``size``; a no-op (the same pixels) when it already has that size."""
    if image.size == size:
        return image
    return image.resize(size, RESAMPLE[resample])


def encode(image: Image.Image, fmt: str = "png", quality: int | None = None) -> tuple[bytes, str]:
    """The encoded bytes and their content type."""
    return encode_image(image, fmt, quality), CONTENT_TYPES[fmt]


def as_u8(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Round and clip float pixel values into ``uint8``."""
    result: NDArray[np.uint8] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return result
