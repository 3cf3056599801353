"""white-balance on colour-cast scenes (casts in linear light): a grey patch comes back grey (channels
within 3%)."""

from __future__ import annotations

import numpy as np
import pytest
from image_utils_helpers import decode, encode, noise

from retouch.sdk import AsyncClient
from retouch.sdk.errors import UnprocessableEntityError

CAST = np.array([1.25, 1.0, 0.45])


def _cast(scene: np.ndarray) -> np.ndarray:
    """``scene`` (0..255 sRGB) under the light ``CAST``: a gain per channel in linear light."""
    srgb = scene / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4) * CAST
    linear = np.clip(linear, 0.0, 1.0)
    out = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.rint(out * 255.0).astype(np.uint8)


def _spread(patch: np.ndarray) -> float:
    """How far a patch's mean channels are from grey: max / min - 1."""
    means = patch.reshape(-1, 3).astype(float).mean(axis=0)
    return float(means.max() / means.min() - 1)


def _balanced_scene() -> np.ndarray:
    """Random colours averaging to grey, plus a grey patch."""
    scene = np.random.default_rng(1).integers(20, 200, (64, 64, 3)).astype(float)
    scene[20:40, 20:40] = 128
    return scene


def _white_patch_scene() -> np.ndarray:
    """Dimmer random colours and a bright white card (10% of the picture)."""
    scene = np.random.default_rng(2).integers(20, 180, (64, 64, 3)).astype(float)
    scene[:, 24:32] = 220
    scene[48:56, 40:56] = 110  # a mid-grey patch to judge by
    return scene


def _green_scene() -> np.ndarray:
    """Mostly grass (grey-world is fooled) with grey objects making a quarter of the picture."""
    rng = np.random.default_rng(3)
    scene = np.dstack(
        [rng.integers(40, 90, (64, 64)), rng.integers(120, 200, (64, 64)), rng.integers(20, 70, (64, 64))]
    )
    scene = scene.astype(float)
    scene[0:16, 0:16] = 80
    scene[16:32, 0:16] = 128
    scene[0:16, 16:32] = 170
    scene[16:32, 16:32] = 128
    return scene


@pytest.mark.parametrize(
    ("method", "scene", "patch"),
    [
        ("gray-world", _balanced_scene, (slice(20, 40), slice(20, 40))),
        ("white-patch", _white_patch_scene, (slice(48, 56), slice(40, 56))),
        ("robust", _green_scene, (slice(16, 32), slice(16, 32))),
        ("robust", _balanced_scene, (slice(20, 40), slice(20, 40))),
    ],
)
async def test_grey_patch_comes_back_grey(client: AsyncClient, method: str, scene, patch) -> None:  # type: ignore[no-untyped-def]
    cast = _cast(scene())
    assert _spread(cast[patch]) > 0.5  # the premise: the cast is strong
    result = await client.image_utils.white_balance(encode(cast), method=method)  # type: ignore[arg-type]
    out = decode(result.image)
    assert _spread(out[patch]) < 0.03
    assert result.method == method
    # The gains (linear light) undo the cast (up to a common factor).
    ratio = np.array(result.gains) * CAST
    assert ratio.max() / ratio.min() - 1 < 0.03


async def test_grey_world_is_fooled_by_grass_and_robust_is_not(client: AsyncClient) -> None:
    cast = encode(_cast(_green_scene()))
    patch = (slice(16, 32), slice(16, 32))
    grey_world = decode((await client.image_utils.white_balance(cast, method="gray-world")).image)
    robust = decode((await client.image_utils.white_balance(cast, method="robust")).image)
    assert _spread(grey_world[patch]) > 0.1
    assert _spread(robust[patch]) < 0.03


async def test_strength_zero_changes_nothing(client: AsyncClient) -> None:
    image = noise(20, 20)
    result = await client.image_utils.white_balance(encode(image), strength=0)
    assert result.gains == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(decode(result.image), image)


async def test_alpha_and_grey_images(client: AsyncClient) -> None:
    rgba = noise(16, 16, 4)
    out = decode((await client.image_utils.white_balance(encode(rgba))).image)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    grey = noise(16, 16, 1)
    result = await client.image_utils.white_balance(encode(grey))
    assert result.gains == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(decode(result.image), grey)


@pytest.mark.parametrize(("options", "field"), [({"strength": 2}, "strength"), ({"method": "magic"}, "method")])
async def test_bad_parameters(client: AsyncClient, options: dict[str, object], field: str) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.white_balance(encode(noise(8, 8)), **options)  # type: ignore[arg-type]
    assert info.value.problem.detail.startswith(f"{field}:")


async def test_a_clipped_picture_has_nothing_to_estimate_and_comes_back_unchanged(client: AsyncClient) -> None:
    clipped = np.full((32, 32, 3), 255, np.uint8)
    clipped[8:24, 8:24] = (255, 255, 120)  # clipped in red and green: its colour is not the light's
    result = await client.image_utils.white_balance(encode(clipped))
    assert result.gains == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(decode(result.image), clipped)


async def test_a_scene_without_grey_is_corrected_only_part_way_and_the_gain_is_capped(client: AsyncClient) -> None:
    """A field of saturated green: nothing says the green is the light's, so no full correction."""
    rng = np.random.default_rng(4)
    green = np.dstack([rng.integers(10, 40, (48, 48)), rng.integers(150, 230, (48, 48)), rng.integers(5, 30, (48, 48))])
    green = green.astype(np.uint8)
    result = await client.image_utils.white_balance(encode(green))
    gains = np.array(result.gains)
    assert gains.max() / gains.min() <= 8.0 + 1e-4  # the cap
    out = decode(result.image).reshape(-1, 3).astype(float).mean(axis=0)
    assert out[1] > out[0] and out[1] > out[2]  # still green, not turned grey or magenta
