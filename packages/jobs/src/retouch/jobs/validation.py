"""What can be checked about a :class:`GenerationRequest` without the model, at submit time:
the fields each task needs, and that every image is a readable picture within the limits
(from its header only; nothing is decoded)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, UnidentifiedImageError

from retouch.runtime.images import ImageLimits
from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk.models.common import FieldError
from retouch.sdk.models.generation import GenerationRequest

__all__ = ["probe_image", "validate_request"]

_NEEDS_MASK = ("removal", "insertion")


def probe_image(data: bytes, field: str, limits: ImageLimits) -> tuple[int, int]:
    """The size of the picture in ``data`` read from its header; a 4xx naming ``field`` if it is
    empty, not an image, or over the limits."""
    if not data:
        raise field_error(field, "image data is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            size: tuple[int, int] = image.size
    except UnidentifiedImageError:
        raise field_error(field, "not a recognised image (PNG, JPEG, WebP, ...)") from None
    except Image.DecompressionBombError as exc:
        raise field_error(field, f"image refused as a decompression bomb: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise field_error(field, f"image header is unreadable: {exc}") from None
    limits.check(size[0], size[1], field)
    return size


def validate_request(request: GenerationRequest, limits: ImageLimits, engines: Sequence[str] = ()) -> None:
    """Raise a 422 (or 413) problem listing what is wrong with ``request``; return if nothing is."""
    errors: list[FieldError] = []

    def check(condition: bool, field: str, message: str) -> None:
        if not condition:
            errors.append(FieldError(field=field, message=message))

    task = request.task_type
    has_mask = request.mask is not None or bool(request.conditional_images)
    if task in _NEEDS_MASK:
        check(has_mask, "mask", f"{task} needs a mask (or conditional_images with the mask first)")
    check(
        request.reference_image is None or task == "insertion",
        "reference_image",
        "only insertion uses a reference image",
    )
    check(
        request.reference_mask_R is None or request.reference_image is not None,
        "reference_mask_R",
        "a reference mask needs reference_image",
    )
    if engines:
        check(
            request.engine is None or request.engine in engines,
            "engine",
            f"unknown engine {request.engine!r}; this deployment offers {', '.join(engines)}",
        )
    if errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise ProblemError(422, detail, errors=errors)

    probe_image(request.input_image, "input_image", limits)
    if request.mask is not None:
        probe_image(request.mask, "mask", limits)
    for index, image in enumerate(request.conditional_images or ()):
        probe_image(image, f"conditional_images[{index}]", limits)
    if request.reference_image is not None:
        probe_image(request.reference_image, "reference_image", limits)
    if request.reference_mask_R is not None:
        probe_image(request.reference_mask_R, "reference_mask_R", limits)
