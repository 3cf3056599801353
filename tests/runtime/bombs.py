"""A corpus of decompression bombs: small files whose pixels, once decoded, would not fit.

Each one hides its real size somewhere a naive decoder only finds by decoding: inside an icon's
directory entry, behind a small first TIFF page, in a GIF frame or a WebP/APNG canvas, or simply in
a header declaring huge sides over a few bytes of data. Built in memory, in well under a second.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

__all__ = ["BOMBS", "huge_png"]

#: Bigger than every default limit (12000 px a side, 50 megapixels) and than Pillow's own guard.
HUGE = 19_000


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(width: int = HUGE, height: int = HUGE) -> bytes:
    """A valid 1-bit greyscale PNG of ``width`` x ``height`` black pixels (tens of kilobytes)."""
    row = b"\x00" + bytes((width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _declared_png(width: int, height: int, *, actl: bool = False) -> bytes:
    """A PNG header declaring ``width`` x ``height`` over one byte of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = _chunk(b"acTL", struct.pack(">II", 1, 0)) if actl else b""
    if actl:
        extra += _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 1, 0, 0))
    idat = zlib.compress(b"\x00")
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def ico_wrapping(inner: bytes, declared: int = 16) -> bytes:
    """An ICO whose one entry says ``declared`` x ``declared`` and holds ``inner`` (any picture)."""
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", declared, declared, 0, 0, 1, 32, len(inner), 6 + 16)
    return header + entry + inner


def ico_dib(width: int = HUGE, height: int = HUGE) -> bytes:
    """An ICO whose BMP entry's info header declares ``width`` x ``height`` (data: a few bytes)."""
    info = struct.pack("<IiiHHIIiiII", 40, width, 2 * height, 1, 32, 0, 0, 0, 0, 0, 0)
    return ico_wrapping(info + bytes(64))


def icns_wrapping(inner: bytes) -> bytes:
    """An ICNS with one 512x512 (``ic09``) entry that holds ``inner``."""
    entry = b"ic09" + struct.pack(">I", 8 + len(inner)) + inner
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def _tiff_bytes(pages: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    return buf.getvalue()


def tiff_declaring(width: int = HUGE, height: int = HUGE) -> bytes:
    """A one-page TIFF whose IFD declares ``width`` x ``height`` over a 16x16 strip."""
    data = bytearray(_tiff_bytes([Image.new("L", (16, 16))]))
    _patch_tiff_size(data, 0, width, height)
    return bytes(data)


def tiff_big_second_page(width: int = HUGE, height: int = HUGE) -> bytes:
    """A TIFF whose first page is 16x16 and whose second declares ``width`` x ``height``."""
    data = bytearray(_tiff_bytes([Image.new("L", (16, 16)), Image.new("L", (16, 16))]))
    _patch_tiff_size(data, 1, width, height)
    return bytes(data)


def _patch_tiff_size(data: bytearray, page: int, width: int, height: int) -> None:
    """Rewrite ImageWidth (256) and ImageLength (257) of IFD number ``page`` (little-endian)."""
    (offset,) = struct.unpack_from("<I", data, 4)
    for _ in range(page):
        (count,) = struct.unpack_from("<H", data, offset)
        (offset,) = struct.unpack_from("<I", data, offset + 2 + 12 * count)
    (count,) = struct.unpack_from("<H", data, offset)
    for index in range(count):
        at = offset + 2 + 12 * index
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<HHII", data, at, tag, 4, 1, value)  # LONG, whatever it was
            del kind


def gif_with_big_frame(width: int = HUGE, height: int = HUGE) -> bytes:
    """A GIF whose logical screen is 16x16 and whose first frame declares ``width`` x ``height``."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    lzw = b"\x02\x02\x4c\x01\x00"  # min code size 2, one tiny sub-block, terminator
    return screen + descriptor + lzw + b"\x3b"


def webp_canvas(width: int = HUGE // 2 + 4000, height: int = HUGE // 2 + 4000) -> bytes:
    """An animated WebP of two 16x16 frames whose VP8X canvas says ``width`` x ``height``."""
    frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = bytearray(buf.getvalue())
    at = data.index(b"VP8X") + 8 + 4
    data[at : at + 3] = (width - 1).to_bytes(3, "little")
    data[at + 3 : at + 6] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def jpeg_declaring(width: int = 60_000, height: int = 60_000) -> bytes:
    """A small JPEG whose SOF header declares ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    at = data.index(b"\xff\xc0") + 5
    struct.pack_into(">HH", data, at, height, width)
    return bytes(data)


#: Every bomb by name: the bytes, and the statuses a service may answer (413 over a limit; 422
#: where the container is refused or unreadable before its size is known).
BOMBS: dict[str, bytes] = {
    "ico wrapping a huge png": ico_wrapping(huge_png()),
    "ico wrapping a png over the pixel limit only": ico_wrapping(huge_png(9000, 9000)),
    "ico whose bmp declares huge sides": ico_dib(),
    "icns wrapping a huge png": icns_wrapping(huge_png()),
    "tiff declaring huge sides": tiff_declaring(),
    "tiff with a huge second page": tiff_big_second_page(),
    "gif with a huge first frame": gif_with_big_frame(),
    "animated webp with a huge canvas": webp_canvas(),
    "apng declaring huge sides": _declared_png(HUGE, HUGE, actl=True),
    "png declaring huge sides": _declared_png(HUGE, HUGE),
    "png declaring a long thin strip": _declared_png(200_000, 1),
    "jpeg declaring huge sides": jpeg_declaring(),
}
