"""resize, letterbox and unletterbox: sizes, alpha, and the exact round trips."""

from __future__ import annotations

import numpy as np
import pytest
from image_utils_helpers import decode, encode, mode_of, noise

from retouch.sdk import AsyncClient
from retouch.sdk.errors import PayloadTooLargeError, UnprocessableEntityError
from retouch.sdk.models.image_utils import LetterboxInfo


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ({"width": 30}, (30, 20)),
        ({"height": 10}, (15, 10)),
        ({"width": 30, "height": 30}, (30, 20)),
        ({"width": 30, "height": 30, "keep_aspect": False}, (30, 30)),
        ({"scale": 0.5}, (30, 20)),
        ({"scale": 2}, (120, 80)),
    ],
)
async def test_resize_sizes(client: AsyncClient, options: dict[str, object], size: tuple[int, int]) -> None:
    result = await client.image_utils.resize(encode(noise(40, 60)), **options)  # type: ignore[arg-type]
    assert (result.width, result.height) == size
    assert decode(result.image).shape[:2] == (size[1], size[0])


async def test_resize_keeps_alpha_and_grey(client: AsyncClient) -> None:
    rgba = await client.image_utils.resize(encode(noise(20, 20, 4)), width=10)
    assert mode_of(rgba.image) == "RGBA"
    grey = await client.image_utils.resize(encode(noise(20, 20, 1)), width=10, format="webp")
    assert grey.content_type == "image/webp" and grey.image[8:12] == b"WEBP"


async def test_resize_nearest_by_integer_factor_replicates_pixels(client: AsyncClient) -> None:
    image = noise(5, 7)
    result = await client.image_utils.resize(encode(image), scale=3, resample="nearest")
    np.testing.assert_array_equal(decode(result.image), image.repeat(3, axis=0).repeat(3, axis=1))


@pytest.mark.parametrize(
    ("options", "field"),
    [({}, "width"), ({"scale": 2, "width": 5}, "scale"), ({"scale": 0}, "scale"), ({"width": 0}, "width")],
)
async def test_resize_bad_requests(client: AsyncClient, options: dict[str, object], field: str) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.resize(encode(noise(8, 8)), **options)  # type: ignore[arg-type]
    assert info.value.problem.detail.startswith(f"{field}:")


async def test_resize_past_the_limit_is_refused(client: AsyncClient) -> None:
    with pytest.raises(PayloadTooLargeError) as info:
        await client.image_utils.resize(encode(noise(8, 8)), width=5000)
    assert "RETOUCH_MAX_IMAGE_SIDE" in info.value.problem.detail


async def test_letterbox_places_and_pads(client: AsyncClient) -> None:
    image = noise(30, 60)
    result = await client.image_utils.letterbox(encode(image), size=60, color=(10, 20, 30))
    info = result.letterbox
    assert (result.width, result.height) == (60, 60)
    assert info == LetterboxInfo(
        original_width=60,
        original_height=30,
        width=60,
        height=60,
        scale=1.0,
        pad_x=0,
        pad_y=15,
        content_width=60,
        content_height=30,
    )
    canvas = decode(result.image)
    np.testing.assert_array_equal(canvas[15:45], image)
    assert np.all(canvas[:15] == (10, 20, 30)) and np.all(canvas[45:] == (10, 20, 30))


@pytest.mark.parametrize(
    ("shape", "options", "exact"),
    [
        ((30, 60, 3), {"size": 64}, False),  # scale 16/15: resampled, only the size is exact
        ((37, 23, 3), {"size": 64, "upscale": False}, True),  # scale 1: padded only
        ((40, 40, 4), {"width": 50, "height": 70, "upscale": False}, True),  # RGBA, scale 1
        ((21, 33, 1), {"size": 33}, True),  # greyscale, already the target width
    ],
)
async def test_letterbox_round_trip(
    client: AsyncClient, shape: tuple[int, int, int], options: dict[str, object], exact: bool
) -> None:
    image = noise(shape[0], shape[1], shape[2])
    boxed = await client.image_utils.letterbox(encode(image), **options)  # type: ignore[arg-type]
    assert (boxed.letterbox.scale == 1) == exact
    back = await client.image_utils.unletterbox(boxed.image, boxed.letterbox)
    restored = decode(back.image)
    assert (back.width, back.height) == (shape[1], shape[0])
    assert restored.shape == image.shape
    if exact:
        np.testing.assert_array_equal(restored, image)
    else:
        assert np.abs(restored.astype(int) - image).mean() < 40  # noise survives resampling only roughly


async def test_letterbox_round_trip_exact_at_integer_scale_with_nearest(client: AsyncClient) -> None:
    image = noise(16, 32)
    boxed = await client.image_utils.letterbox(encode(image), size=96, resample="nearest")
    info = boxed.letterbox
    assert info.scale == 3 and (info.content_width, info.content_height, info.pad_y) == (96, 48, 24)
    back = await client.image_utils.unletterbox(boxed.image, info)
    np.testing.assert_array_equal(decode(back.image), image)


async def test_unletterbox_of_a_canvas_at_another_size(client: AsyncClient) -> None:
    """A model that answers at twice the canvas size still maps back onto the original picture."""
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = (255, 0, 0)
    image[:, 20:] = (0, 0, 255)
    boxed = await client.image_utils.letterbox(encode(image), size=40)
    doubled = (await client.image_utils.resize(boxed.image, scale=2, resample="nearest")).image
    back = await client.image_utils.unletterbox(doubled, boxed.letterbox)
    restored = decode(back.image)
    assert restored.shape == (20, 40, 3)
    np.testing.assert_array_equal(restored, image)


async def test_unletterbox_accepts_the_info_as_a_dict(client: AsyncClient) -> None:
    image = noise(10, 20)
    boxed = await client.image_utils.letterbox(encode(image), size=20)
    info = {"original_width": 20, "original_height": 10, "width": 20, "height": 20, "scale": 1.0}
    info |= {"pad_x": 0, "pad_y": 5, "content_width": 20, "content_height": 10}
    back = await client.image_utils.unletterbox(boxed.image, info)
    np.testing.assert_array_equal(decode(back.image), image)


async def test_letterbox_bad_requests(client: AsyncClient) -> None:
    with pytest.raises(UnprocessableEntityError, match="size"):
        await client.image_utils.letterbox(encode(noise(8, 8)))
    with pytest.raises(UnprocessableEntityError, match="size"):
        await client.image_utils.letterbox(encode(noise(8, 8)), size=8, width=8)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.letterbox(encode(noise(8, 8)), size=8, color=(1, 2, 3, 4, 5))
    assert info.value.problem.detail.startswith("color:")
    bad = LetterboxInfo(
        original_width=8,
        original_height=8,
        width=8,
        height=8,
        scale=1,
        pad_x=4,
        pad_y=0,
        content_width=8,
        content_height=8,
    )
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.unletterbox(encode(noise(8, 8)), bad)
    assert info.value.problem.detail.startswith("letterbox:")
