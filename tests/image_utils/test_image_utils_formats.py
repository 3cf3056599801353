"""convert and metadata: content types match the bytes, quality matters, EXIF orientation is applied."""

from __future__ import annotations

import numpy as np
import pytest
from image_utils_helpers import decode, encode, jpeg_with_orientation, mode_of, noise

from retouch.sdk import AsyncClient

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}


def _photo(h: int = 64, w: int = 96) -> np.ndarray:
    """Smooth gradients plus mild noise: compresses very differently at low and high quality."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.dstack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h) + 64])
    return np.clip(base + noise(h, w).astype(float) * 0.2 - 25, 0, 255).astype(np.uint8)


def _kind(data: bytes) -> str:
    if data.startswith(MAGIC["png"]):
        return "png"
    if data.startswith(MAGIC["jpeg"]):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "unknown"


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
async def test_content_type_matches_the_bytes(client: AsyncClient, fmt: str) -> None:
    result = await client.image_utils.convert(encode(_photo()), fmt, quality=80)  # type: ignore[arg-type]
    assert _kind(result.image) == fmt
    assert result.content_type == f"image/{fmt}"
    assert result.size_bytes == len(result.image)
    assert (result.width, result.height) == (96, 64)
    assert decode(result.image).shape == (64, 96, 3)


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
async def test_quality_changes_the_size(client: AsyncClient, fmt: str) -> None:
    low = await client.image_utils.convert(encode(_photo()), fmt, quality=10)  # type: ignore[arg-type]
    high = await client.image_utils.convert(encode(_photo()), fmt, quality=95)  # type: ignore[arg-type]
    assert low.size_bytes < high.size_bytes * 0.7


async def test_png_and_lossless_webp_keep_pixels_and_alpha(client: AsyncClient) -> None:
    rgba = noise(20, 30, 4)
    png = await client.image_utils.convert(encode(rgba, "WEBP", lossless=True, exact=True), "png")
    assert mode_of(png.image) == "RGBA"
    np.testing.assert_array_equal(decode(png.image), rgba)
    webp = decode((await client.image_utils.convert(encode(rgba), "webp")).image)
    visible = rgba[..., 3] > 0  # lossless WebP keeps every visible pixel (invisible colour may go)
    np.testing.assert_array_equal(webp[visible], rgba[visible])


async def test_jpeg_puts_transparency_on_white(client: AsyncClient) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    result = await client.image_utils.convert(encode(rgba), "jpeg", quality=95)
    assert decode(result.image).min() >= 250


def _marked(h: int = 24, w: int = 48) -> np.ndarray:
    """Black, with a red block in the stored top-left corner."""
    array = np.zeros((h, w, 3), np.uint8)
    array[:8, :8] = (255, 0, 0)
    return array


async def test_exif_orientation_6_is_applied_on_decode(client: AsyncClient) -> None:
    jpeg = jpeg_with_orientation(_marked(), 6)  # stored 48x24; displayed rotated 90 degrees clockwise
    meta = await client.image_utils.metadata(jpeg)
    assert (meta.width, meta.height, meta.stored_width, meta.stored_height) == (24, 48, 48, 24)
    assert meta.orientation == 6 and meta.format == "jpeg" and meta.content_type == "image/jpeg"

    upright = decode((await client.image_utils.convert(jpeg, "png")).image).astype(int)
    assert upright.shape == (48, 24, 3)
    # The stored top-left corner is now the top-right one.
    assert upright[2:6, 18:22, 0].min() > 200 and upright[2:6, 2:6, 0].max() < 50
    # Every operation sees the upright picture.
    resized = await client.image_utils.resize(jpeg, scale=1)
    assert (resized.width, resized.height) == (24, 48)


async def test_metadata_reads_the_header(client: AsyncClient) -> None:
    meta = await client.image_utils.metadata(encode(noise(10, 30, 4)))
    assert (meta.width, meta.height, meta.format, meta.mode, meta.has_alpha) == (30, 10, "png", "RGBA", True)
    assert meta.orientation == 1
    grey = await client.image_utils.metadata(encode(noise(5, 5, 1), "WEBP"))
    assert grey.format == "webp" and grey.content_type == "image/webp"


async def test_metadata_of_a_huge_header_is_refused(client: AsyncClient) -> None:
    from image_utils_helpers import png_declaring

    from retouch.sdk.errors import PayloadTooLargeError

    with pytest.raises(PayloadTooLargeError) as info:
        await client.image_utils.metadata(png_declaring(30_000, 30_000))
    assert info.value.problem.detail.startswith("image:")
