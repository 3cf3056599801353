"""extract-object and add-shadow-preview, checked against numpy ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from image_utils_helpers import decode, disk, encode, mode_of, noise

from retouch.sdk import AsyncClient
from retouch.sdk.errors import UnprocessableEntityError


async def test_cutout_alpha_is_the_mask_and_bbox_is_exact(client: AsyncClient) -> None:
    image = noise(48, 64)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:41] = 255
    mask[12:14, 22:30] = 90  # a soft patch keeps its value as alpha
    mask[29, 40] = 7  # one faint corner pixel still belongs to the object

    result = await client.image_utils.extract_object(encode(image), encode(mask))

    assert result.bbox == [20, 10, 41, 30]
    assert (result.width, result.height) == (21, 20)
    assert (result.image_width, result.image_height) == (64, 48)
    assert result.area == int(np.count_nonzero(mask))
    assert result.content_type == "image/png"
    assert result.extracted_image[:8] == b"\x89PNG\r\n\x1a\n"
    cut = decode(result.extracted_image)
    assert cut.shape == (20, 21, 4)
    np.testing.assert_array_equal(cut[..., 3], mask[10:30, 20:41])
    np.testing.assert_array_equal(cut[..., :3], image[10:30, 20:41])


async def test_bbox_of_a_disk(client: AsyncClient) -> None:
    mask = disk(60, 80, cx=50, cy=25, radius=9)
    result = await client.image_utils.extract_object(encode(noise(60, 80)), encode(mask))
    assert result.bbox == [41, 16, 60, 35]
    np.testing.assert_array_equal(decode(result.extracted_image)[..., 3], mask[16:35, 41:60])


async def test_threshold_and_binary(client: AsyncClient) -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[2:6, 2:6] = 40
    mask[8:15, 9:13] = 200
    result = await client.image_utils.extract_object(encode(noise(20, 20)), encode(mask), threshold=50, binary=True)
    assert result.bbox == [9, 8, 13, 15]
    assert np.all(decode(result.extracted_image)[..., 3] == 255)


async def test_transparent_source_stays_transparent(client: AsyncClient) -> None:
    image = noise(16, 16, channels=4)
    image[..., 3] = 128
    mask = np.full((16, 16), 255, np.uint8)
    result = await client.image_utils.extract_object(encode(image), encode(mask))
    assert np.all(decode(result.extracted_image)[..., 3] == 128)


async def test_empty_mask_is_refused(client: AsyncClient) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.extract_object(encode(noise(10, 10)), encode(np.zeros((10, 10), np.uint8)))
    assert "mask is empty" in info.value.problem.detail
    assert info.value.problem.errors and info.value.problem.errors[0].field == "mask"


async def test_mask_of_another_size_is_refused_or_resized(client: AsyncClient) -> None:
    image = encode(noise(40, 40))
    small = np.zeros((20, 20), np.uint8)
    small[5:10, 5:10] = 255
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.extract_object(image, encode(small))
    assert info.value.problem.detail.startswith("mask:")
    assert "20x20" in info.value.problem.detail

    result = await client.image_utils.extract_object(image, encode(small), resize_mask=True)
    assert result.bbox == [10, 10, 20, 20]


async def test_shadow_preview_geometry_and_shading(client: AsyncClient) -> None:
    cutout = np.zeros((20, 30, 4), np.uint8)
    cutout[..., :3] = (200, 30, 40)
    cutout[4:16, 5:25, 3] = 255
    result = await client.image_utils.add_shadow_preview(
        encode(cutout), shadow_offset_x=6, shadow_offset_y=-4, shadow_opacity=0.6, blur_radius=0
    )
    # No blur: the canvas grows exactly by the offset.
    assert (result.width, result.height) == (36, 24)
    assert result.object_offset == [0, 4]
    preview = decode(result.preview_image)
    assert preview.shape == (24, 36, 4)
    ox, oy = result.object_offset
    # Ground truth: the object's alpha over its shifted, faded copy.
    obj = np.zeros((24, 36), np.float64)
    obj[oy : oy + 20, ox : ox + 30] = cutout[..., 3] / 255
    shadow = np.zeros((24, 36), np.float64)
    shadow[oy - 4 : oy + 16, ox + 6 : ox + 36] = cutout[..., 3] / 255 * 0.6
    expected = np.rint((obj + shadow * (1 - obj)) * 255)
    np.testing.assert_array_equal(preview[..., 3], expected)
    # The object's pixels are untouched; shadow-only pixels are black.
    np.testing.assert_array_equal(preview[oy + 4 : oy + 16, ox + 5 : ox + 25], cutout[4:16, 5:25])
    assert tuple(preview[5, 28]) == (0, 0, 0, 153)


async def test_shadow_blur_gives_soft_edges_and_expands(client: AsyncClient) -> None:
    cutout = np.zeros((20, 20, 4), np.uint8)
    cutout[5:15, 5:15] = 255
    result = await client.image_utils.add_shadow_preview(
        encode(cutout), shadow_offset_x=0, shadow_offset_y=0, shadow_opacity=1.0, blur_radius=6
    )
    assert result.width > 20 and result.height > 20
    alpha = decode(result.preview_image)[..., 3]
    soft = alpha[(alpha > 0) & (alpha < 255)]
    assert soft.size > 50
    assert mode_of(result.preview_image) == "RGBA"


async def test_shadow_without_expand_keeps_size_and_mask_shapes_object(client: AsyncClient) -> None:
    rgb = noise(24, 24)
    mask = disk(24, 24, 11.5, 11.5, 8)
    result = await client.image_utils.add_shadow_preview(
        encode(rgb), mask=encode(mask), shadow_offset_x=3, shadow_offset_y=3, blur_radius=2, expand=False
    )
    assert (result.width, result.height, result.object_offset) == (24, 24, [0, 0])
    alpha = decode(result.preview_image)[..., 3]
    assert np.all(alpha[mask == 255] == 255)
    assert alpha[0, 0] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("shadow_opacity", 1.5),
        ("shadow_opacity", -0.1),
        ("blur_radius", -1),
        ("blur_radius", 10_000),
        ("shadow_offset_x", 20_000),
        ("shadow_offset_y", -20_000),
    ],
)
async def test_shadow_parameters_are_range_checked(client: AsyncClient, field: str, value: float) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.add_shadow_preview(encode(noise(8, 8, 4)), **{field: value})  # type: ignore[arg-type]
    assert field in info.value.problem.detail
