"""Place a foreground on a background: alpha over, multiply, screen, or Poisson (seamless) blending."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.image_utils.ops._common import as_u8, encode, open_keeping_alpha
from retouch.runtime.images import ImageLimits, open_image, open_mask
from retouch.runtime.problems import field_error
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import CompositeRequest, CompositeResponse

__all__ = ["composite"]

Floats = NDArray[np.float32]


def composite(req: CompositeRequest, limits: ImageLimits) -> CompositeResponse:
    """The background (its size and mode) with the foreground placed at ``position``."""
    background = open_keeping_alpha(req.background, "background", limits)
    if background.mode == "L":
        background = background.convert("RGB")
    foreground = open_image(req.foreground, field="foreground", limits=limits, mode="RGBA")
    fg = np.asarray(foreground).astype(np.float32)
    alpha = fg[..., 3] / 255.0
    if req.mask is not None:
        mask = open_mask(req.mask, field="mask", limits=limits, size=foreground.size, resize=req.resize_mask)
        alpha = alpha * (np.asarray(mask, dtype=np.float32) / 255.0)

    x, y = req.position
    bw, bh = background.size
    fw, fh = foreground.size
    # The overlap of the placed foreground with the background, in background coordinates.
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + fw, bw), min(y + fh, bh)
    if x1 <= x0 or y1 <= y0 or req.opacity == 0:
        data, content_type = encode(background, req.format, req.quality)
        return CompositeResponse(image=Base64Bytes(data), width=bw, height=bh, content_type=content_type)

    bg = np.array(background).astype(np.float32)
    src = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    dst = (slice(y0, y1), slice(x0, x1))
    a = alpha[src] * req.opacity
    top: Any = fg[src][..., :3]
    under: Any = bg[dst][..., :3]
    if req.blend == "seamless":
        top = _seamless(bg[..., :3], fg[..., :3], alpha, x, y)[dst]
    elif req.blend == "multiply":
        top = top * under / 255.0
    elif req.blend == "screen":
        top = 255.0 - (255.0 - top) * (255.0 - under) / 255.0

    if bg.shape[2] == 4:
        under_a = bg[dst][..., 3] / 255.0
        out_a = a + under_a * (1.0 - a)
        weight_under = under_a * (1.0 - a)
        rgb = (top * a[..., None] + under * weight_under[..., None]) / np.maximum(out_a, 1e-6)[..., None]
        bg[dst] = np.dstack([rgb, out_a * 255.0])
    else:
        bg[dst] = top * a[..., None] + under * (1.0 - a[..., None])
    out = Image.fromarray(as_u8(bg), background.mode)
    data, content_type = encode(out, req.format, req.quality)
    return CompositeResponse(image=Base64Bytes(data), width=bw, height=bh, content_type=content_type)


def _seamless(bg: Floats, fg: Floats, alpha: Floats, x: int, y: int) -> Any:
    """Poisson-blend the foreground's covered region into a copy of the background (float result)."""
    import cv2

    region = (alpha > 0.5).astype(np.uint8) * 255
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        return bg
    rx0, rx1, ry0, ry1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    bh, bw = bg.shape[:2]
    # OpenCV needs the region, with a one-pixel frame, inside the background.
    if x + rx0 < 1 or y + ry0 < 1 or x + rx1 > bw - 1 or y + ry1 > bh - 1:
        raise field_error("position", "seamless blending needs the masked foreground inside the background")
    patch = np.ascontiguousarray(fg[ry0:ry1, rx0:rx1].astype(np.uint8))
    patch_mask = np.ascontiguousarray(region[ry0:ry1, rx0:rx1])
    pw, ph = rx1 - rx0, ry1 - ry0
    center = (x + rx0 + pw // 2, y + ry0 + ph // 2)
    blended = cv2.seamlessClone(patch, bg.astype(np.uint8), patch_mask, center, cv2.NORMAL_CLONE)
    return blended.astype(np.float32)
