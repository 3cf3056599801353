"""Cut-outs: extract the masked object, and preview it over a soft drop shadow."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from retouch.image_utils.ops._common import as_u8, check_output, encode
from retouch.runtime.images import ImageLimits, open_image, open_mask
from retouch.runtime.masks import cut_out
from retouch.runtime.problems import field_error
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import (
    AddShadowPreviewRequest,
    AddShadowPreviewResponse,
    ExtractObjectRequest,
    ExtractObjectResponse,
)

__all__ = ["add_shadow_preview", "extract_object"]


def extract_object(req: ExtractObjectRequest, limits: ImageLimits) -> ExtractObjectResponse:
    """The RGBA cut-out of the pixels whose mask value is above ``threshold``, cropped to them."""
    image = open_image(req.image, field="image", limits=limits, mode="RGBA")
    mask = np.asarray(open_mask(req.mask, field="mask", limits=limits, size=image.size, resize=req.resize_mask))
    try:
        cut, (x0, y0, x1, y1) = cut_out(image, mask, threshold=req.threshold, soft=not req.binary)
    except ValueError:
        raise field_error("mask", "mask is empty (no pixel above the threshold)") from None
    crop_inside = mask[y0:y1, x0:x1] > req.threshold
    data, content_type = encode(cut, "png")
    return ExtractObjectResponse(
        extracted_image=Base64Bytes(data),
        bbox=[x0, y0, x1, y1],
        width=x1 - x0,
        height=y1 - y0,
        image_width=image.width,
        image_height=image.height,
        area=int(crop_inside.sum()),
        content_type=content_type,
    )


def add_shadow_preview(req: AddShadowPreviewRequest, limits: ImageLimits) -> AddShadowPreviewResponse:
    """The cut-out composited over its shadow: its alpha shifted, blurred and faded."""
    import cv2

    image = open_image(req.extracted_image, field="extracted_image", limits=limits, mode="RGBA")
    rgba = np.asarray(image).astype(np.float32) / 255.0
    alpha = rgba[..., 3]
    if req.mask is not None:
        mask = open_mask(req.mask, field="mask", limits=limits, size=image.size, resize=req.resize_mask)
        alpha = alpha * (np.asarray(mask, dtype=np.float32) / 255.0)
    h, w = alpha.shape
    dx, dy = req.shadow_offset_x, req.shadow_offset_y
    # Three sigmas (sigma = radius / 2) hold all of the visible blur.
    pad = math.ceil(1.5 * req.blur_radius) + 1 if req.blur_radius > 0 else 0
    if req.expand:
        left, top = min(0, dx - pad), min(0, dy - pad)
        right, bottom = max(w, dx + w + pad), max(h, dy + h + pad)
    else:
        left, top, right, bottom = 0, 0, w, h
    cw, ch = right - left, bottom - top
    check_output(limits, cw, ch, "blur_radius")

    ox, oy = -left, -top  # the object's top-left corner in the canvas
    shadow = np.zeros((ch, cw), np.float32)
    _paste(shadow, alpha, dx + ox, dy + oy)
    if req.blur_radius > 0:
        shadow = cv2.GaussianBlur(shadow, (0, 0), sigmaX=req.blur_radius / 2.0, borderType=cv2.BORDER_CONSTANT)
    shadow *= req.shadow_opacity

    obj_a = np.zeros((ch, cw), np.float32)
    obj_rgb = np.zeros((ch, cw, 3), np.float32)
    _paste(obj_a, alpha, ox, oy)
    _paste(obj_rgb, rgba[..., :3], ox, oy)
    shadow_rgb = np.asarray(req.shadow_color, np.float32) / 255.0
    under = shadow * (1.0 - obj_a)
    out_a = obj_a + under
    out_rgb = (obj_rgb * obj_a[..., None] + shadow_rgb * under[..., None]) / np.maximum(out_a, 1e-6)[..., None]
    out = np.dstack([out_rgb, out_a]) * 255.0
    data, content_type = encode(Image.fromarray(as_u8(out), "RGBA"), "png")
    return AddShadowPreviewResponse(
        preview_image=Base64Bytes(data), width=cw, height=ch, object_offset=[ox, oy], content_type=content_type
    )


def _paste(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Copy ``src`` into ``dst`` with its top-left corner at ``(x, y)``, clipped to ``dst``."""
    h, w = src.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 > x0 and y1 > y0:
        dst[y0:y1, x0:x1] = src[y0 - y : y1 - y, x0 - x : x1 - x]
