"""Image decoding with limits (decompression bombs are refused from the header, before any pixel
is decoded), EXIF orientation applied, and encoding to PNG/WebP/JPEG."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Literal

from PIL import Image, UnidentifiedImageError

from retouch.runtime import assets
from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.settings import ServiceSettings
from retouch.sdk.models.image_utils import MetadataResponse

__all__ = [
    "CONTENT_TYPES",
    "ImageFormat",
    "ImageHeader",
    "ImageLimits",
    "encode_image",
    "open_image",
    "open_mask",
    "probe_image",
]

ImageFormat = Literal["png", "webp", "jpeg"]
CONTENT_TYPES: dict[str, str] = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG"}

# Our own side/pixel checks (far lower) run first; Pillow's guard stays on as a last line, set high
# enough that a picture our limits refuse does not first log Pillow's warning.
Image.MAX_IMAGE_PIXELS = 1_000_000_000

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ORIENTATION_TAG = 0x0112
#: EXIF orientations that swap width and height when the picture is displayed upright.
_TRANSPOSING = frozenset({5, 6, 7, 8})
#: What makes each EXIF orientation upright (the table of ``ImageOps.exif_transpose``).
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
#: Formats Pillow opens by running another program (Ghostscript): never.
_REFUSED_FORMATS = frozenset({"EPS"})
#: Pages of a TIFF whose headers are checked (a picture has one; a long tail is not read).
_MAX_TIFF_PAGES = 64


#: What a picture's header says, without decoding it (``width`` x ``height`` upright): the
#: contract's own answer of the image-utils ``metadata`` operation.
ImageHeader = MetadataResponse


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


def _refuse_format(fmt: str | None, field: str) -> None:
    if fmt in _REFUSED_FORMATS:
        raise field_error(field, f"{fmt} pictures are not accepted; send PNG, JPEG or WebP")


def _png_size(data: bytes, offset: int) -> tuple[int, int] | None:
    """The IHDR size of a PNG starting at ``offset`` of ``data``, or ``None`` if it is not one."""
    head = data[offset : offset + 24]
    if len(head) < 24 or head[:8] != _PNG_MAGIC or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _dib_size(data: bytes, offset: int) -> tuple[int, int] | None:
    """The size of an icon's BMP (DIB) picture at ``offset``: its header counts the AND mask's rows."""
    head = data[offset : offset + 12]
    if len(head) < 12:
        return None
    (header_size,) = struct.unpack("<I", head[:4])
    if header_size == 12:
        width, height = struct.unpack("<HH", head[4:8])
    else:
        width, height = struct.unpack("<ii", head[4:12])
    return abs(width), abs(height) // 2


def _icon_sizes(data: bytes) -> list[tuple[int, int]]:
    """The sizes of the pictures inside an ICO or CUR file, from their own headers.

    Pillow decodes an icon's largest entry while *opening* it, and an entry that says 16x16 may
    hold a 19000x19000 PNG: the directory is read here, before Pillow sees the file.
    """
    if len(data) < 6 or data[:4] not in (b"\0\0\1\0", b"\0\0\2\0"):
        return []
    (count,) = struct.unpack_from("<H", data, 4)
    sizes: list[tuple[int, int]] = []
    for index in range(count):
        at = 6 + 16 * index
        if at + 16 > len(data):
            break
        (offset,) = struct.unpack_from("<I", data, at + 12)
        inner = _png_size(data, offset) or _dib_size(data, offset)
        if inner is not None:
            sizes.append(inner)
    return sizes


def _inner_sizes(image: Image.Image, data: bytes) -> list[tuple[int, int]]:
    """The sizes a container will decode at, where they differ from the size it declares.

    An ICNS declares the size of its entry type but decodes the PNG inside, which may be any
    size; a multi-page TIFF declares its first page. Each is read from its own header here,
    before anything is decoded. (ICO is checked before Pillow opens it: see :func:`_icon_sizes`.)
    """
    sizes: list[tuple[int, int]] = []
    fmt = image.format
    if fmt == "ICNS":
        for start, length in getattr(image, "icns").dct.values():  # noqa: B009
            inner = _png_size(data, start)
            if inner is not None:
                sizes.append(inner)
            elif (
                data[start : start + 4] in (b"\xff\x4f\xff\x51", b"\x0d\x0a\x87\x0a")
                or data[start : start + 12] == b"\x00\x00\x00\x0cjP  \x0d\x0a\x87\x0a"
            ):
                from PIL import Jpeg2KImagePlugin

                with Jpeg2KImagePlugin.Jpeg2KImageFile(io.BytesIO(data[start : start + length])) as j2k:
                    sizes.append(j2k.size)
    elif fmt == "TIFF":
        # Seeking a TIFF page parses its IFD only; the pixels stay undecoded.
        try:
            for page in range(1, _MAX_TIFF_PAGES):
                image.seek(page)
                sizes.append(image.size)
        except EOFError:
            pass
        image.seek(0)
    return sizes


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) as read from the header; 1 when absent or broken.

    A PNG's EXIF can follow its pixels, and Pillow would decode the picture to find it: only an
    EXIF block ahead of the pixels counts, for the probe and the decoder alike.
    """
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        return 1  # a broken EXIF block should not reject a decodable picture
    return orientation if orientation in range(1, 9) else 1


def _open(data: bytes, field: str, limits: ImageLimits) -> tuple[Image.Image, ImageHeader]:
    """Open ``data`` (header only) and refuse it before any pixel is decoded if it is not an
    image, or if it or anything inside it is over ``limits``."""
    # Every decode and probe comes through here: an ``asset:<id>`` reference becomes its picture.
    data = assets.resolve(data, field)
    if not data:
        raise field_error(field, "image data is empty")
    for width, height in _icon_sizes(data):
        limits.check(width, height, field)
    image: Image.Image
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise field_error(field, "not a recognised image (PNG, JPEG, WebP, ...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise field_error(field, f"image refused as a decompression bomb: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise field_error(field, f"image header is unreadable: {exc}") from None
    try:
        _refuse_format(image.format, field)
        # The orientation swap does not change the pixel count; check the stored size.
        limits.check(image.width, image.height, field)
        try:
            inner = _inner_sizes(image, data)
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise field_error(field, f"image header is unreadable: {exc}") from None
        for width, height in inner:
            limits.check(width, height, field)
        stored_w, stored_h = image.size
        orientation = _orientation(image)
        upright = (stored_h, stored_w) if orientation in _TRANSPOSING else (stored_w, stored_h)
        header = ImageHeader(
            width=upright[0],
            height=upright[1],
            stored_width=stored_w,
            stored_height=stored_h,
            format=(image.format or "").lower(),
            mode=image.mode,
            has_alpha=image.mode in _ALPHA_MODES or "transparency" in image.info,
            orientation=orientation,
            content_type=Image.MIME.get(image.format or ""),
            size_bytes=len(data),
        )
    except BaseException:
        image.close()
        raise
    return image, header


def probe_image(data: bytes, *, field: str = "image", limits: ImageLimits | None = None) -> ImageHeader:
    """What the header of ``data`` says (the upright size first), with the same refusals as
    :func:`open_image` (empty, not an image, over the limits, a bomb inside a container) and no
    pixel decoded. Errors are 4xx problems naming ``field``."""
    image, header = _open(data, field, limits or ImageLimits())
    image.close()
    return header


def open_image(
    data: bytes, *, field: str = "image", limits: ImageLimits | None = None, mode: str | None = "RGB"
) -> Image.Image:
    """Decode ``data`` into a loaded PIL image in ``mode`` (``None`` keeps the file's mode),
    upright per its EXIF orientation. Errors are 4xx problems naming ``field``.

    This is the one decoder of every service: everything it refuses is refused from the headers
    (see :func:`probe_image`), and the orientation it applies is the one the probe reports, so a
    size compared after either is the same upright size.
    """
    image, header = _open(data, field, limits or ImageLimits())
    try:
        image.load()
    except Image.DecompressionBombError as exc:  # pragma: no cover - our limits come first
        raise field_error(field, f"image refused as a decompression bomb: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise field_error(field, f"image data is truncated or corrupt: {exc}") from None
    if image.size != (header.stored_width, header.stored_height):
        # A container decoded another size than any header said: refuse rather than trust it.
        limits_used = limits or ImageLimits()
        limits_used.check(image.width, image.height, field)
    method = _TRANSPOSE.get(header.orientation)
    if method is not None:
        image = image.transpose(method)
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
