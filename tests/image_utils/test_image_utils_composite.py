"""composite: placement, clipping, masks, opacity, blend modes."""

from __future__ import annotations

import numpy as np
import pytest
from image_utils_helpers import decode, disk, encode, mode_of, noise

from retouch.sdk import AsyncClient
from retouch.sdk.errors import UnprocessableEntityError

BLUE = (0, 0, 255)


def _background(h: int = 40, w: int = 50) -> np.ndarray:
    bg = np.zeros((h, w, 3), np.uint8)
    bg[:] = BLUE
    return bg


async def test_opaque_foreground_lands_exactly_at_position(client: AsyncClient) -> None:
    fg = noise(10, 12)
    result = await client.image_utils.composite(encode(_background()), encode(fg), position=(5, 7))
    out = decode(result.image)
    expected = _background()
    expected[7:17, 5:17] = fg
    np.testing.assert_array_equal(out, expected)
    assert (result.width, result.height) == (50, 40)


async def test_foreground_partly_outside_is_clipped(client: AsyncClient) -> None:
    fg = noise(10, 10)
    out = decode((await client.image_utils.composite(encode(_background()), encode(fg), position=(-4, 35))).image)
    expected = _background()
    expected[35:40, 0:6] = fg[0:5, 4:10]
    np.testing.assert_array_equal(out, expected)


async def test_foreground_entirely_outside_leaves_the_background(client: AsyncClient) -> None:
    out = decode(
        (await client.image_utils.composite(encode(_background()), encode(noise(5, 5)), position=(60, 0))).image
    )
    np.testing.assert_array_equal(out, _background())


async def test_mask_and_alpha_and_opacity(client: AsyncClient) -> None:
    fg = np.zeros((20, 20, 4), np.uint8)
    fg[..., 0] = 255
    fg[..., 3] = 255
    fg[:, 10:, 3] = 0  # right half transparent
    mask = disk(20, 20, 9.5, 9.5, 8)
    result = await client.image_utils.composite(
        encode(_background()), encode(fg), mask=encode(mask), position=(10, 10), opacity=0.5
    )
    out = decode(result.image).astype(int)
    inside = out[10:30, 10:30][(mask == 255) & (np.arange(20)[None, :] < 10)]
    np.testing.assert_allclose(inside, [[128, 0, 128]] * len(inside), atol=1)
    right = out[10:30, 20:30]
    assert np.all(right == BLUE)  # the foreground's own alpha still counts
    assert np.all(out[10:30, 10:30][mask == 0] == BLUE)


@pytest.mark.parametrize(("blend", "expected"), [("multiply", (100, 50, 0)), ("screen", (255, 178, 200))])
async def test_blend_modes(client: AsyncClient, blend: str, expected: tuple[int, int, int]) -> None:
    bg = np.full((8, 8, 3), (255, 100, 0), np.uint8)
    fg = np.full((8, 8, 3), (100, 128, 200), np.uint8)
    out = decode((await client.image_utils.composite(encode(bg), encode(fg), blend=blend)).image)  # type: ignore[arg-type]
    np.testing.assert_allclose(out.reshape(-1, 3), [expected] * 64, atol=1)


async def test_seamless_blends_inside_and_leaves_the_rest(client: AsyncClient) -> None:
    bg = np.zeros((60, 60, 3), np.uint8)
    bg[:] = (90, 120, 150)
    fg = np.full((20, 20, 3), (200, 60, 60), np.uint8)
    fg[8:12, 8:12] = (20, 20, 20)  # texture the Poisson solve must carry over
    mask = np.zeros((20, 20), np.uint8)
    mask[3:17, 3:17] = 255
    out = decode(
        (
            await client.image_utils.composite(
                encode(bg), encode(fg), mask=encode(mask), position=(20, 20), blend="seamless"
            )
        ).image
    ).astype(int)
    region = np.zeros((60, 60), bool)
    region[23:37, 23:37] = True
    np.testing.assert_array_equal(out[~region], bg.astype(int)[~region])
    # Colours follow the background; the foreground's detail (a dark square) survives.
    centre, ring = out[29:31, 29:31].mean(), out[25, 25].mean()
    assert ring - centre > 40
    assert abs(out[24, 24] - bg[0, 0]).max() < 40


async def test_seamless_outside_the_background_is_refused(client: AsyncClient) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.composite(
            encode(_background()), encode(noise(10, 10)), position=(45, 0), blend="seamless"
        )
    assert info.value.problem.detail.startswith("position:")


async def test_transparent_background_stays_transparent_where_uncovered(client: AsyncClient) -> None:
    bg = np.zeros((10, 10, 4), np.uint8)
    fg = np.full((4, 4, 3), 200, np.uint8)
    result = await client.image_utils.composite(encode(bg), encode(fg), position=(3, 3))
    out = decode(result.image)
    assert mode_of(result.image) == "RGBA"
    assert np.all(out[3:7, 3:7] == (200, 200, 200, 255))
    assert out[..., 3].sum() == 16 * 255


async def test_mask_size_must_match_the_foreground(client: AsyncClient) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.composite(encode(_background()), encode(noise(10, 10)), mask=encode(noise(5, 5, 1)))
    assert info.value.problem.detail.startswith("mask:")
    ok = await client.image_utils.composite(
        encode(_background()), encode(noise(10, 10)), mask=encode(noise(5, 5, 1)), resize_mask=True
    )
    assert ok.width == 50


async def test_opacity_out_of_range(client: AsyncClient) -> None:
    with pytest.raises(UnprocessableEntityError, match="opacity"):
        await client.image_utils.composite(encode(_background()), encode(noise(4, 4)), opacity=1.5)
