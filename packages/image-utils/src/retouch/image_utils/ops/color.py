"""Classic white balance: per-channel gains from a grey-world, white-patch or robust estimate.

Gains are estimated on at most ``_SAMPLE`` pixels (a regular stride) and applied to every pixel;
they are normalised so the mean channel level is kept, and clamped to ``[1/4, 4]``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.image_utils.ops._common import as_u8, encode, open_keeping_alpha
from retouch.runtime.images import ImageLimits
from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.image_utils import WhiteBalanceRequest, WhiteBalanceResponse

__all__ = ["estimate_gains", "white_balance"]

Floats = NDArray[np.float64]

_SAMPLE = 65_536
_MIN_GAIN, _MAX_GAIN = 0.25, 4.0
#: Pixels with a channel at or above this are clipped: their colour is not the light's.
_CLIPPED = 250.0
#: Pixels darker than this (mean level) are mostly noise.
_DARK = 12.0


def white_balance(req: WhiteBalanceRequest, limits: ImageLimits) -> WhiteBalanceResponse:
    """The image with the estimated gains applied (alpha kept; greyscale has nothing to balance)."""
    image = open_keeping_alpha(req.image, "image", limits)
    if image.mode == "L":
        gains = np.ones(3)
        out = image
    else:
        pixels = np.asarray(image)
        rgb = pixels[..., :3]
        gains = estimate_gains(rgb, req.method, req.percentile)
        gains = 1.0 + req.strength * (gains - 1.0)
        balanced = as_u8(rgb.astype(np.float32) * gains.astype(np.float32))
        if image.mode == "RGBA":
            balanced = np.dstack([balanced, pixels[..., 3]])
        out = Image.fromarray(balanced, image.mode)
    data, content_type = encode(out, req.format, req.quality)
    return WhiteBalanceResponse(
        image=Base64Bytes(data),
        width=out.width,
        height=out.height,
        content_type=content_type,
        gains=[round(float(g), 6) for g in gains],
        method=req.method,
    )


def _sample(rgb: NDArray[np.uint8]) -> Floats:
    flat = rgb.reshape(-1, 3)
    step = max(1, flat.shape[0] // _SAMPLE)
    return flat[::step].astype(np.float64)


def _gains_to_grey(means: Floats) -> Floats:
    """Gains that make ``means`` neutral while keeping their average."""
    means = np.maximum(means, 1e-3)
    result: Floats = np.clip(means.mean() / means, _MIN_GAIN, _MAX_GAIN)
    return result


def estimate_gains(rgb: NDArray[np.uint8], method: str, percentile: float = 99.0) -> Floats:
    """Per-channel gains (R, G, B) for an ``(h, w, 3)`` ``uint8`` image."""
    px = _sample(rgb)
    if method == "gray-world":
        return _gains_to_grey(px.mean(axis=0))
    if method == "white-patch":
        return _gains_to_grey(np.percentile(px, percentile, axis=0))
    return _robust(px)


def _robust(px: Floats) -> Floats:
    """Grey-world over the most neutral well-exposed pixels, re-selected as the estimate improves."""
    level = px.mean(axis=1)
    usable = px[(px.max(axis=1) < _CLIPPED) & (level > _DARK)]
    if usable.shape[0] < 64:
        usable = px
    gains = np.ones(3)
    for _ in range(4):
        corrected = usable * gains
        mean = np.maximum(corrected.mean(axis=1), 1e-3)
        chroma = np.abs(corrected - mean[:, None]).max(axis=1) / mean
        # The fifth of the pixels closest to grey under the current estimate.
        cutoff = np.partition(chroma, chroma.size // 5)[chroma.size // 5]
        chosen = usable[chroma <= cutoff]
        gains = _gains_to_grey(chosen.mean(axis=0))
    return gains
