"""Small real images the e2e tests send: a scene with an object, its mask, and broken files."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 64, 48
#: The object's bounding box in the scene, half-open [x_min, y_min, x_max, y_max].
OBJECT_BOX = (20, 12, 44, 36)
OBJECT_COLOUR = (220, 30, 30)


def png(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def scene() -> Image.Image:
    """A gradient background with a red square object."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    for x in range(WIDTH):
        for y in range(HEIGHT):
            image.putpixel((x, y), (40 + x, 60 + y, 120))
    ImageDraw.Draw(image).rectangle(
        [OBJECT_BOX[0], OBJECT_BOX[1], OBJECT_BOX[2] - 1, OBJECT_BOX[3] - 1], fill=OBJECT_COLOUR
    )
    return image


def mask() -> Image.Image:
    """White where the object is."""
    image = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(image).rectangle([OBJECT_BOX[0], OBJECT_BOX[1], OBJECT_BOX[2] - 1, OBJECT_BOX[3] - 1], fill=255)
    return image


def tinted() -> Image.Image:
    """A grey chart under a warm cast (white balance should pull it back towards neutral)."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    for x in range(WIDTH):
        level = 40 + 3 * x
        for y in range(HEIGHT):
            image.putpixel((x, y), (min(255, int(level * 1.3)), level, int(level * 0.7)))
    return image


def decode(data: bytes) -> Image.Image:
    """Open returned image bytes (fully loaded)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def b64(data: bytes) -> str:
    """Base64 text for a JSON body."""
    return base64.b64encode(data).decode("ascii")


def png_declaring(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header declares ``width`` x ``height`` (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
