"""The seed web client's duplicate mask field, ``mask_image`` (API.md, Generation jobs).

The client sends the mask twice, as ``conditional_images[0]`` and as ``mask_image`` (the same
string), and ``mask_image: ""`` for white balance. :func:`with_mask_image` folds it into the
request's one mask so every later rule sees a single mask: used as the mask when neither ``mask``
nor ``conditional_images`` is given, dropped when it repeats the mask given there, refused (422)
when it names another picture. The jobs service applies it at submit (the stored request is
folded), the generation service when it runs a request.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from retouch.runtime.problems import field_error
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.generation import GenerationRequest

__all__ = ["with_mask_image"]

R = TypeVar("R", bound=GenerationRequest)


def with_mask_image(request: R) -> R:
    """``request`` with ``mask_image`` folded into its mask (see the module docstring)."""
    raw = request.mask_image
    if raw is None:
        return request
    if not raw.strip():
        return msgspec.structs.replace(request, mask_image=None)
    try:
        data = Base64Bytes.parse(raw)
    except ValueError as exc:
        raise field_error("mask_image", f"is not base64 (or a data: URL): {exc}") from None
    given: bytes | None = request.mask
    if given is None and request.conditional_images:
        given = request.conditional_images[0]
    if given is None:
        return msgspec.structs.replace(request, mask=data, mask_image=None)
    if bytes(given) != bytes(data):
        where = "mask" if request.mask is not None else "conditional_images[0]"
        raise field_error("mask_image", f"differs from {where}; send the mask once, or the same picture in both")
    return msgspec.structs.replace(request, mask_image=None)
