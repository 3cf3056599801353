"""White balance by a robust illuminant estimate, shared by the classic engine.

The estimate works in linear light, on pixels that are neither clipped nor nearly black. It starts
from shades-of-gray (the Minkowski p=6 mean of each channel, which leans towards bright surfaces)
and is then refined on the picture's near-neutral pixels: correct with the current estimate, keep
the pixels whose corrected chromaticity is close to grey, re-estimate the illuminant as their mean,
and tighten the tolerance. Scenes with any grey, white or black-ish surface converge on it; a scene
without one keeps the shades-of-gray estimate. The correction is a diagonal (von Kries) gain that
keeps each pixel's luminance.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["estimate_illuminant", "white_balance"]

FloatArray = NDArray[np.float64]

_LUMA = np.array([0.2126, 0.7152, 0.0722])
#: Chromaticity tolerances of the refinement passes (largest channel share minus 1/3).
_TOLERANCES = (0.10, 0.07, 0.05, 0.035, 0.025, 0.02)
#: Pixels the estimate looks at (an even sample of the picture).
_SAMPLE = 200_000
#: Below this share of usable pixels a "neutral" set is noise, not a surface.
_MIN_NEUTRAL_SHARE = 0.002


def _to_linear(srgb: FloatArray) -> FloatArray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: FloatArray) -> FloatArray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def estimate_illuminant(image: Image.Image) -> FloatArray:
    """The scene illuminant's colour in linear RGB, normalised to unit luminance."""
    pixels8 = np.asarray(image.convert("RGB")).reshape(-1, 3)
    if len(pixels8) > _SAMPLE:  # the estimate needs a sample, not every pixel of a big photo
        pixels8 = pixels8[:: len(pixels8) // _SAMPLE + 1]
    srgb = pixels8.astype(np.float64) / 255.0
    linear = _to_linear(srgb)
    luma = linear @ _LUMA
    usable = (srgb.max(axis=1) < 0.98) & (luma > 0.01)
    if usable.sum() < 16:
        usable = np.ones(len(linear), dtype=bool)
    pixels = linear[usable]
    estimate = np.power(np.mean(np.power(pixels, 6.0), axis=0), 1 / 6.0)
    for tolerance in _TOLERANCES:
        corrected = pixels / np.maximum(estimate, 1e-6)
        share = corrected / np.maximum(corrected.sum(axis=1, keepdims=True), 1e-9)
        neutral = np.abs(share - 1 / 3).max(axis=1) < tolerance
        if neutral.sum() < max(8, _MIN_NEUTRAL_SHARE * len(pixels)):
            break
        estimate = pixels[neutral].mean(axis=0)
    estimate = np.maximum(estimate, 1e-6)
    normalised: FloatArray = estimate / float(estimate @ _LUMA)
    return normalised


def white_balance(image: Image.Image) -> Image.Image:
    """``image`` corrected so the estimated illuminant becomes neutral (luminance kept)."""
    illuminant = estimate_illuminant(image)
    # The gain is per channel, so one 256-entry table a channel does the whole picture.
    levels = _to_linear(np.arange(256, dtype=np.float64) / 255.0)
    table = [int(v) for gain in illuminant for v in np.rint(_to_srgb(levels / gain) * 255.0)]
    return image.convert("RGB").point(table)
