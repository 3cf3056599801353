"""The seed system's multipart form of ``POST /api/image-utils/white-balance`` (API.md, Image
utilities): fields ``file`` (the picture), ``method``, and optional ``temperature`` and ``tint``;
the answer ``{"success", "original_image", "corrected_image", "method_used"}`` with both pictures
as raw base64 PNG. The JSON form of the same route is unchanged; the route picks by content type.

``method`` takes the estimates' names (``robust``, ``gray-world``, ``white-patch``, with ``_`` or
``-``), the seed's ``auto`` (= ``robust``), and ``manual`` (no estimate: only ``temperature`` and
``tint``). ``temperature`` and ``tint`` (-100..100) shift the result warmer (+) / cooler (-) and
magenta (+) / green (-) after the estimate.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec
import numpy as np
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from retouch.image_utils.ops._common import encode, open_keeping_alpha
from retouch.runtime.concurrency import run_sync
from retouch.runtime.http import StructResponse
from retouch.runtime.images import ImageLimits
from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.white_balance import apply_gains
from retouch.runtime.white_balance import white_balance as balance
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import WhiteBalanceMethod

__all__ = ["METHODS", "WhiteBalanceFormResponse", "is_form", "white_balance_form"]

#: The form's ``method`` values and the estimate each means (``None``: no estimate).
METHODS: Final[dict[str, WhiteBalanceMethod | None]] = {
    "auto": "robust",
    "robust": "robust",
    "gray-world": "gray-world",
    "gray_world": "gray-world",
    "grey-world": "gray-world",
    "grey_world": "gray-world",
    "white-patch": "white-patch",
    "white_patch": "white-patch",
    "manual": None,
}
#: The largest form part read (the service's body limit, enforced before this, is lower by default).
_MAX_PART_BYTES: Final = 256 * 1024 * 1024
#: How far ``temperature`` / ``tint`` of +-100 move a channel (a linear-light gain of 1.5^+-1).
_SHIFT_BASE: Final = 1.5


class WhiteBalanceFormResponse(msgspec.Struct, kw_only=True):
    """The answer of the multipart form, as the seed system gave it."""

    success: bool = True
    #: The picture as received (upright), raw base64 PNG.
    original_image: Base64Bytes
    #: The corrected picture, raw base64 PNG.
    corrected_image: Base64Bytes
    #: The estimate applied (``manual`` when none), then ``+temperature``/``+tint`` when given.
    method_used: str
    #: Multipliers applied to R, G, B in linear light (estimate and shifts together).
    gains: list[float]


def is_form(request: Request) -> bool:
    """Whether ``request`` carries the multipart form (not the JSON body)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "multipart/form-data"


def _number(raw: object, field: str) -> float | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise field_error(field, "must be a number from -100 to 100")
    try:
        value = float(raw)
    except ValueError:
        raise field_error(field, f"must be a number from -100 to 100, got {raw!r}") from None
    if not math.isfinite(value) or not -100 <= value <= 100:
        raise field_error(field, f"must be a number from -100 to 100, got {raw!r}")
    return value


def _shift_gains(temperature: float | None, tint: float | None) -> np.ndarray:
    t = (temperature or 0.0) / 100
    g = (tint or 0.0) / 100
    # Warmer: more red, less blue. Magenta: less green (red and blue relatively more).
    return np.array([_SHIFT_BASE ** (t / 2), _SHIFT_BASE ** (-g / 2), _SHIFT_BASE ** (-t / 2)])


def _correct(
    data: bytes, method: WhiteBalanceMethod | None, temperature: float | None, tint: float | None, limits: ImageLimits
) -> WhiteBalanceFormResponse:
    image = open_keeping_alpha(data, "file", limits)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    original, _ = encode(image, "png", None)
    gains = np.ones(3)
    out = image
    if method is not None:
        out, gains = balance(image, method)
    if temperature or tint:
        shift = _shift_gains(temperature, tint)
        pixels = np.asarray(out)
        shifted = apply_gains(np.ascontiguousarray(pixels[..., :3]), shift)
        if out.mode == "RGBA":
            shifted = np.dstack([shifted, pixels[..., 3]])
        out = Image.fromarray(shifted, out.mode)
        gains = np.asarray(gains) * shift
    corrected, _ = encode(out, "png", None)
    used: str = method or "manual"
    if temperature:
        used += f"+temperature={temperature:g}"
    if tint:
        used += f"+tint={tint:g}"
    return WhiteBalanceFormResponse(
        original_image=Base64Bytes(original),
        corrected_image=Base64Bytes(corrected),
        method_used=used,
        gains=[round(float(x), 6) for x in gains],
    )


async def white_balance_form(request: Request, limits: ImageLimits) -> Response:
    """Answer the multipart form (422 naming the field for a missing picture or a bad value)."""
    async with request.form(max_files=1, max_fields=8, max_part_size=_MAX_PART_BYTES) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise field_error("file", "the multipart form needs the picture in the field 'file'")
        raw_method = form.get("method") or "auto"
        if not isinstance(raw_method, str) or raw_method.strip().lower() not in METHODS:
            names = ", ".join(sorted(METHODS))
            raise field_error("method", f"{raw_method!r} is not a white-balance method; use one of {names}")
        method = METHODS[raw_method.strip().lower()]
        temperature = _number(form.get("temperature"), "temperature")
        tint = _number(form.get("tint"), "tint")
        if method is None and not (temperature or tint):
            raise field_error("method", "manual needs temperature or tint")
        data = await part.read()
    if not data:
        raise ProblemError(422, "file: the uploaded picture is empty")
    return StructResponse(await run_sync(_correct, data, method, temperature, tint, limits))
