"""The robust white-balance estimate on real photographs under strong, clipped casts (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from retouch.runtime.white_balance import estimate_illuminant, white_balance


def _linear(srgb: np.ndarray) -> np.ndarray:
    values = srgb.astype(np.float64) / 255.0
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    values = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.rint(values * 255.0).astype(np.uint8)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))))


@pytest.mark.parametrize(
    ("photo", "light"),
    [
        ("coffee", (0.55, 0.8, 1.0)),  # a blue shade
        ("chelsea", (0.75, 1.0, 0.6)),  # a green fluorescent
        ("rocket", (0.55, 0.8, 1.0)),
        ("coffee", (1.0, 0.6, 0.165)),  # the warm light
    ],
)
def test_the_robust_estimate_finds_a_clipped_cast_at_least_as_well_as_the_simple_ones(
    photo: str, light: tuple[float, float, float]
) -> None:
    """A photograph (scikit-image's) lit by a strong cast and over-exposed until some 3% of it clips:
    the robust light is nearer the cast than grey-world's and white-patch's."""
    import skimage.data

    lit = _linear(np.asarray(getattr(skimage.data, photo)())[..., :3]) * np.array(light)
    shot = _srgb(lit / np.percentile(lit.max(axis=2), 97))
    assert (shot.max(axis=2) >= 254).mean() > 0.01  # the premise: highlights clip
    angles = {
        method: _angle(estimate_illuminant(shot, method), np.array(light))
        for method in ("robust", "gray-world", "white-patch")
    }
    assert angles["robust"] <= min(angles["gray-world"], angles["white-patch"]), angles


def test_a_warm_wall_beside_clipped_highlights_comes_out_neutral_not_cyan() -> None:
    """The issue's repro: a wall reading (253, 202, 112) under a warm light, a clipped window and a
    clipped warm highlight beside it, a darker floor."""
    pixels = np.zeros((150, 200, 3), np.uint8)
    pixels[:] = (253, 202, 112)
    pixels[10:60, 20:80] = 255
    pixels[15:55, 100:130] = (255, 244, 190)
    rng = np.random.default_rng(0)
    pixels[100:] = _srgb(rng.uniform(0.05, 0.5, (50, 200, 1)) * np.array([0.98, 0.59, 0.16]) * 1.5)
    corrected = np.asarray(white_balance(Image.fromarray(pixels))[0])
    wall = corrected[65:95, 140:190].reshape(-1, 3).mean(axis=0)
    assert wall.max() - wall.min() < 12, wall  # near neutral
    assert corrected[20:50, 30:70].min() >= 250  # the clipped window stays white
