"""Image fixtures built with numpy (the ground truth) and their encodings."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def encode(array: NDArray[Any], fmt: str = "PNG", **params: Any) -> bytes:
    """Encode a ``uint8`` array (H, W), (H, W, 3) or (H, W, 4)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format=fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> NDArray[np.uint8]:
    """Decode an image into an array, keeping its mode's channels."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.copy())


def mode_of(data: bytes) -> str:
    """The Pillow mode of an encoded image."""
    with Image.open(io.BytesIO(data)) as image:
        return image.mode


def disk(height: int, width: int, cx: float, cy: float, radius: float) -> NDArray[np.uint8]:
    """A binary mask: 255 within ``radius`` of ``(cx, cy)`` (pixel centres)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.where((xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2, 255, 0).astype(np.uint8)


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> NDArray[np.uint8]:
    """Random colours (every pixel different, so misplaced pixels show)."""
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header claims ``width x height`` but whose data is one tiny row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_with_orientation(array: NDArray[np.uint8], orientation: int) -> bytes:
    """A JPEG of ``array`` (stored as is) with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()
