"""Image decoding with limits (bombs refused from the header), EXIF orientation, masks, encoding."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageFile

from retouch.runtime import ImageLimits, ProblemError, ServiceSettings, encode_image, open_image, open_mask
from retouch.runtime.images import CONTENT_TYPES


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring ``width`` x ``height``, with a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def problem(exc: pytest.ExceptionInfo[ProblemError]) -> tuple[int, str]:
    return exc.value.status, exc.value.detail


def test_decodes_to_rgb() -> None:
    image = open_image(png(Image.new("RGB", (8, 6), (10, 20, 30))))
    assert image.size == (8, 6)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (10, 20, 30)


def test_transparency_is_flattened_onto_white_for_rgb() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    image = open_image(png(rgba))
    assert image.mode == "RGB"
    assert image.getpixel((1, 1)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == (0, 0, 255)
    assert open_image(png(rgba), mode=None).mode == "RGBA"


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n"])
def test_non_images_are_422_naming_the_field(data: bytes) -> None:
    with pytest.raises(ProblemError) as info:
        open_image(data, field="input_image")
    status, detail = problem(info)
    assert status == 422
    assert detail.startswith("input_image: ")
    assert info.value.errors is not None and info.value.errors[0].field == "input_image"


def test_truncated_png_is_422() -> None:
    data = png(Image.effect_noise((64, 64), 50).convert("RGB"))
    with pytest.raises(ProblemError) as info:
        open_image(data[: len(data) // 2], field="image")
    status, detail = problem(info)
    assert status == 422
    assert detail.startswith("image: ")


def test_huge_declared_size_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ProblemError) as info:
        open_image(png_declaring(30000, 30000), field="image")
    status, detail = problem(info)
    assert status == 413
    assert detail.startswith("image: ")
    # Just over our side limit (and far under Pillow's own guard): our check names the setting.
    with pytest.raises(ProblemError) as info:
        open_image(png_declaring(12001, 10), field="mask")
    status, detail = problem(info)
    assert status == 413
    assert detail == "mask: image is 12001x10; the longest side allowed is 12000 (RETOUCH_MAX_IMAGE_SIDE)"


def test_pixel_limit_is_separate_from_the_side_limit() -> None:
    limits = ImageLimits(max_pixels=100, max_side=1000)
    with pytest.raises(ProblemError) as info:
        open_image(png(Image.new("RGB", (20, 20))), limits=limits)
    status, detail = problem(info)
    assert status == 413
    assert "400 pixels" in detail and "RETOUCH_MAX_IMAGE_PIXELS" in detail
    assert open_image(png(Image.new("RGB", (10, 10))), limits=limits).size == (10, 10)


def test_a_compressed_bomb_is_refused_before_decoding() -> None:
    # A real, small file (a few KB) that would decode to 9 megapixels.
    bomb = png(Image.new("L", (3000, 3000)))
    assert len(bomb) < 100_000
    with pytest.raises(ProblemError) as info:
        open_image(bomb, limits=ImageLimits(max_pixels=1_000_000, max_side=5000))
    assert problem(info)[0] == 413


def test_limits_from_settings() -> None:
    limits = ImageLimits.from_settings(ServiceSettings(max_image_pixels=123, max_image_side=45))
    assert limits == ImageLimits(max_pixels=123, max_side=45)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # blue band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turns it 90 degrees clockwise
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    upright = open_image(buf.getvalue())
    assert upright.size == (20, 40)
    # After a clockwise turn the left band is at the top.
    r, _g, b = upright.getpixel((10, 2))
    assert b > 200 and r < 60


def test_broken_exif_does_not_reject_a_decodable_picture() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG", exif=b"Exif\x00\x00garbage")
    assert open_image(buf.getvalue()).size == (8, 8)


def test_mask_from_rgb_and_from_alpha() -> None:
    rgb = Image.new("RGB", (6, 6), (0, 0, 0))
    rgb.putpixel((1, 1), (255, 255, 255))
    mask = open_mask(png(rgb))
    assert mask.mode == "L" and mask.getpixel((1, 1)) == 255 and mask.getpixel((0, 0)) == 0
    alpha = Image.new("RGBA", (6, 6), (0, 0, 0, 0))
    alpha.putpixel((2, 2), (0, 0, 0, 255))
    mask = open_mask(png(alpha))
    assert mask.getpixel((2, 2)) == 255 and mask.getpixel((0, 0)) == 0


def test_mask_size_must_match_unless_resized() -> None:
    data = png(Image.new("L", (4, 4), 255))
    with pytest.raises(ProblemError) as info:
        open_mask(data, field="mask", size=(8, 8))
    status, detail = problem(info)
    assert status == 422 and detail == "mask: mask is 4x4 but the image is 8x8"
    resized = open_mask(data, size=(8, 8), resize=True)
    assert resized.size == (8, 8) and resized.getextrema() == (255, 255)


@pytest.mark.parametrize(
    ("fmt", "pil_format"), [("png", "PNG"), ("webp", "WEBP"), ("jpeg", "JPEG"), ("jpg", "JPEG"), ("PNG", "PNG")]
)
def test_encode_formats(fmt: str, pil_format: str) -> None:
    data = encode_image(Image.new("RGB", (5, 5), (1, 2, 3)), fmt)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == pil_format
        assert decoded.size == (5, 5)
    assert CONTENT_TYPES[pil_format.lower()].startswith("image/")


def test_jpeg_drops_alpha_onto_white() -> None:
    data = encode_image(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "jpeg")
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == "RGB"
        assert min(decoded.getpixel((1, 1))) > 245


def test_webp_without_quality_is_lossless_and_png_keeps_alpha() -> None:
    noise = Image.effect_noise((16, 16), 80).convert("RGB")
    assert open_image(encode_image(noise, "webp")).tobytes() == noise.tobytes()
    rgba = Image.new("RGBA", (3, 3), (9, 8, 7, 100))
    assert open_image(encode_image(rgba, "png"), mode=None).getpixel((0, 0)) == (9, 8, 7, 100)


def test_quality_changes_lossy_size() -> None:
    noise = Image.effect_noise((64, 64), 80).convert("RGB")
    assert len(encode_image(noise, "jpeg", 20)) < len(encode_image(noise, "jpeg", 95))
    assert len(encode_image(noise, "webp", 20)) < len(encode_image(noise, "webp"))


def test_unknown_format_is_422() -> None:
    with pytest.raises(ProblemError) as info:
        encode_image(Image.new("RGB", (2, 2)), "gif")
    assert problem(info)[0] == 422
    assert "gif" in problem(info)[1]
