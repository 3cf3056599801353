"""The one white-balance estimate: the classic engine's job and the image-utils preview both use it.

Everything happens in linear light, on a regular sample of the picture (at most ``_SAMPLE`` pixels):

- **Excluded**: clipped pixels (a channel at 254 or more) and their neighbourhood (JPEG ringing and
  blooming around a clipped highlight carry the sensor's clipping, not the light's colour); pixels
  with a channel at 0-2 (clipped at black); nearly black pixels (noise); for ``robust``, pixels too
  saturated for any allowed correction to make grey (largest over smallest channel above
  ``MAX_GAIN_RATIO``): their colour is the surface's. A picture with nothing left is not corrected.
- ``robust`` (the default): a white patch found among the pale pixels, re-estimated a few times
  from plain white-patch: correct with the current estimate, keep the pixels whose largest channel
  is at most twice their smallest, take the mean of the brightest 3% of those (brightest by their
  smallest corrected channel). The brightest pale surfaces (a white wall, a cup, a rocket's paint)
  set the light; coloured ones never vote. (A shades-of-gray start refined on the near-neutral
  pixels' mean, which this replaced, latched onto dim surfaces: on the quality bench's clipped
  casts it was worse than plain white-patch.) A scene where nothing is near grey under that light
  (a field of grass, a sunset) is only half corrected: there is nothing to say the colour is the
  light's.
- ``gray-world``: the mean of the usable pixels is grey. ``white-patch``: their ``percentile``-th
  value per channel is white.

The correction is a diagonal (von Kries) gain per channel in linear light that keeps luminance. Its
spread is capped (largest over smallest gain at most ``MAX_GAIN_RATIO``) by shrinking it along its
own direction, so a capped correction still goes the right way instead of swinging the hue. Pixels
near clipping are given gains that keep white white (a clipped highlight turned by a luminance-
keeping gain would come out cyan or magenta), blended smoothly into the ordinary gains.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "MAX_GAIN_RATIO",
    "WhiteBalanceMethod",
    "apply_gains",
    "estimate_gains",
    "estimate_illuminant",
    "white_balance",
]

Floats = NDArray[np.float64]
WhiteBalanceMethod = Literal["gray-world", "white-patch", "robust"]

#: Largest over smallest gain of a correction (linear light). 8 covers candle light against
#: daylight; beyond that an estimate is more likely wrong than the light that strange.
MAX_GAIN_RATIO = 8.0
#: ``robust``: the percentile of the first estimate that is white, the brightness percentile above
#: which the pale pixels vote, the largest over smallest channel (corrected) of a pale pixel, and
#: the rounds of re-estimating on those.
_ROBUST_PERCENTILE = 99.5
_BRIGHTEST = 97.0
_PALE_RATIO = 2.0
_ROBUST_ROUNDS = 3
#: Pixels the estimate looks at.
_SAMPLE = 250_000
#: A channel at or above this (8-bit) is clipped: that pixel's colour is not the light's.
_CLIPPED = 254
#: A channel at or below this is clipped at black.
_BLACK = 2
#: Linear luminance below which pixels are mostly noise.
_DARK = 0.005
#: How far from grey a pixel's chromaticity may be (largest channel share minus 1/3) and still be
#: part of a neutral surface.
_NEUTRAL_TOLERANCE = 0.12
#: Least share of the usable pixels that counts as a neutral surface rather than noise.
_MIN_NEUTRAL_SHARE = 0.003
#: Rec. 709 luminance weights (linear RGB).
LUMA = np.array([0.2126, 0.7152, 0.0722])
#: sRGB level (0..1) from which a pixel's gains move towards keeping white white, and where they do.
_HIGHLIGHT_START, _HIGHLIGHT_FULL = 0.94, 0.995

_LEVELS = np.arange(256, dtype=np.float64) / 255.0
#: 8-bit sRGB value -> linear light.
_TO_LINEAR = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92, ((_LEVELS + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: Floats) -> Floats:
    linear = np.clip(linear, 0.0, 1.0)
    result: Floats = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return result


def _usable_sample(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A regular grid sample of ``rgb`` (n, 3) without clipped pixels and their neighbourhood."""
    height, width = rgb.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(height * width / _SAMPLE))))
    rows, cols = height // step, width // step
    if rows == 0 or cols == 0:
        step, rows, cols = 1, height, width
    clipped = rgb[: rows * step, : cols * step].max(axis=2) >= _CLIPPED
    # Any clipped pixel in a sample's cell, or in a neighbouring cell, excludes that sample.
    cells = clipped.reshape(rows, step, cols, step).any(axis=(1, 3))
    near = cells.copy()
    near[1:] |= cells[:-1]
    near[:-1] |= cells[1:]
    near[:, 1:] |= near[:, :-1].copy()
    near[:, :-1] |= near[:, 1:].copy()
    sample = rgb[step // 2 : rows * step : step, step // 2 : cols * step : step][:rows, :cols]
    keep = ~near & (sample.min(axis=2) > _BLACK)
    result: NDArray[np.uint8] = sample[keep]
    return result


def _has_neutral_surface(pixels: Floats, estimate: Floats) -> bool:
    """Whether, corrected for ``estimate``, enough of ``pixels`` are near grey to be a surface (a
    wall, a cup) rather than noise: then the estimate is the light's, and corrected in full."""
    corrected = pixels / estimate
    share = corrected / np.maximum(corrected.sum(axis=1, keepdims=True), 1e-12)
    neutral = np.abs(share - 1 / 3).max(axis=1) < _NEUTRAL_TOLERANCE
    return bool(neutral.sum() >= max(16.0, _MIN_NEUTRAL_SHARE * len(pixels)))


def estimate_illuminant(
    rgb: NDArray[np.uint8] | Image.Image, method: WhiteBalanceMethod = "robust", percentile: float = 99.0
) -> Floats:
    """The light's colour in linear RGB (unit luminance) as ``method`` estimates it; grey when the
    picture has nothing usable."""
    if isinstance(rgb, Image.Image):
        rgb = np.asarray(rgb.convert("RGB"))
    sample = _usable_sample(rgb[..., :3])
    pixels = _TO_LINEAR[sample]
    pixels = pixels[pixels @ LUMA > _DARK]
    if method == "robust":
        # A colour more saturated than any allowed correction could neutralise is the surface's
        # own, not the light's: it never votes (a field of grass says nothing about the light).
        pixels = pixels[pixels.max(axis=1) <= MAX_GAIN_RATIO * np.maximum(pixels.min(axis=1), 1e-9)]
    if len(pixels) < 16:
        return np.ones(3)
    if method == "gray-world":
        estimate = pixels.mean(axis=0)
    elif method == "white-patch":
        estimate = np.percentile(pixels, percentile, axis=0)
    else:
        # White patch on the pixels that are not strongly coloured once the current estimate is
        # corrected: saturation is a surface's only after the light is taken out (under a strong
        # warm light a white wall reads as saturated as an orange does under daylight).
        start = np.percentile(pixels, _ROBUST_PERCENTILE, axis=0)
        for _ in range(_ROBUST_ROUNDS):
            corrected = pixels / np.maximum(start, 1e-6)
            pale = corrected.max(axis=1) <= _PALE_RATIO * np.maximum(corrected.min(axis=1), 1e-9)
            if pale.sum() < 16:
                break
            # The brightest pale pixels' mean, not a percentile per channel: the channels' tops
            # may come from three different surfaces (a chart of colour patches). Brightest by
            # their smallest corrected channel: luminance under a cast favours the cast's hue.
            voters = pixels[pale]
            brightness = (voters / np.maximum(start, 1e-6)).min(axis=1)
            start = voters[brightness >= np.percentile(brightness, _BRIGHTEST)].mean(axis=0)
        estimate = start
        if not _has_neutral_surface(pixels, np.maximum(start, 1e-6)):
            # Nothing in the picture is near grey under that light: its colour may be the scene's
            # own (grass, a sunset), so go only half way.
            estimate = np.sqrt(np.maximum(start, 1e-6) / float(start @ LUMA))
    estimate = np.maximum(estimate, 1e-6)
    result: Floats = estimate / float(estimate @ LUMA)
    return result


def _cap(gains: Floats) -> Floats:
    """``gains`` with their spread shrunk (in log space, direction kept) to ``MAX_GAIN_RATIO``."""
    logs = np.log(gains)
    spread = float(logs.max() - logs.min())
    limit = float(np.log(MAX_GAIN_RATIO))
    if spread > limit:
        centre = logs.mean()
        logs = centre + (logs - centre) * (limit / spread)
    capped: Floats = np.exp(logs)
    return capped


def estimate_gains(
    rgb: NDArray[np.uint8] | Image.Image,
    method: WhiteBalanceMethod = "robust",
    percentile: float = 99.0,
    strength: float = 1.0,
) -> Floats:
    """Per-channel gains (R, G, B), applied in linear light, that make the estimated light neutral
    while keeping luminance; capped, and moved towards 1 by ``1 - strength`` (in log space)."""
    illuminant = estimate_illuminant(rgb, method, percentile)
    gains = _cap(1.0 / illuminant)
    gains = np.power(gains, strength)
    result: Floats = gains / float((illuminant * gains) @ LUMA)
    if strength == 0.0:
        return np.ones(3)
    return result


def apply_gains(rgb: NDArray[np.uint8], gains: Floats) -> NDArray[np.uint8]:
    """``rgb`` (h, w, 3) with linear-light ``gains`` applied; near-white pixels keep white white."""
    if np.allclose(gains, 1.0, rtol=0, atol=1e-9):
        return rgb.copy()
    gains = np.asarray(gains, dtype=np.float64)
    # A 256-entry table a channel for the ordinary gains, one for gains that keep white white
    # (smallest gain 1), and a per-pixel weight from the pixel's largest channel.
    plain = np.stack([_to_srgb(_TO_LINEAR * g) * 255.0 for g in gains]).astype(np.float32)
    white = np.stack([_to_srgb(_TO_LINEAR * g / gains.min()) * 255.0 for g in gains]).astype(np.float32)
    ramp = np.clip((_LEVELS - _HIGHLIGHT_START) / (_HIGHLIGHT_FULL - _HIGHLIGHT_START), 0.0, 1.0)
    weight = (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)
    out = np.empty_like(rgb)
    for top in range(0, rgb.shape[0], 256):  # in bands: a 12 MP picture in float would be large
        band = rgb[top : top + 256]
        w = weight[band.max(axis=2)]
        for c in range(3):
            values = plain[c][band[..., c]] * (1 - w) + white[c][band[..., c]] * w
            out[top : top + 256, :, c] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out


def white_balance(
    image: Image.Image, method: WhiteBalanceMethod = "robust", percentile: float = 99.0, strength: float = 1.0
) -> tuple[Image.Image, Floats]:
    """``image`` corrected by :func:`estimate_gains`, and the gains. Alpha is kept; a greyscale
    picture has nothing to balance and comes back as it is, with gains of 1."""
    if image.mode == "L":
        return image, np.ones(3)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    pixels = np.asarray(image)
    gains = estimate_gains(pixels[..., :3], method, percentile, strength)
    balanced = apply_gains(np.ascontiguousarray(pixels[..., :3]), gains)
    if image.mode == "RGBA":
        balanced = np.dstack([balanced, pixels[..., 3]])
    return Image.fromarray(balanced, image.mode), gains
