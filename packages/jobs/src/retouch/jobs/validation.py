"""What can be checked about a :class:`GenerationRequest` without the model, at submit time, so a
request the generation service would refuse is a 422 now rather than a failed job later: the
fields each task needs (the same rules as the generation service), every image readable and within
the limits (from its header), and each mask the size of its picture with something to edit."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, UnidentifiedImageError

from retouch.runtime.images import ImageLimits, open_mask
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


def _check_mask(data: bytes, field: str, limits: ImageLimits, size: tuple[int, int]) -> None:
    probe_image(data, field, limits)
    mask = open_mask(data, field=field, limits=limits, size=size, resize=False)
    if mask.point(lambda value: 255 if value > 127 else 0).getbbox() is None:
        raise field_error(field, "mask is empty: no pixel is white (>127), so there is nothing to edit")


def _check_fields(request: GenerationRequest, engines: Sequence[str]) -> None:
    errors: list[FieldError] = []

    def check(condition: bool, field: str, message: str) -> None:
        if not condition:
            errors.append(FieldError(field=field, message=message))

    task = request.task_type
    has_mask = request.mask is not None or bool(request.conditional_images)
    if task in _NEEDS_MASK:
        check(has_mask, "mask", f"{task} needs a mask (or conditional_images with the mask first)")
    check(
        request.mask is None or not request.conditional_images,
        "mask",
        "give the mask either as mask or as conditional_images[0], not both",
    )
    has_reference = request.reference_image is not None or request.reference_mask_R is not None
    check(not has_reference or task == "insertion", "reference_image", "only insertion uses a reference")
    if has_reference and task == "insertion":
        check(
            request.reference_image is not None,
            "reference_image",
            "reference_mask_R needs the reference_image it masks",
        )
        check(request.reference_mask_R is not None, "reference_mask_R", "reference_image needs reference_mask_R")
    if task == "insertion" and not has_reference:
        check(
            bool(request.prompt.strip()),
            "prompt",
            "insertion needs a reference_image or a prompt saying what to insert",
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


def validate_request(request: GenerationRequest, limits: ImageLimits, engines: Sequence[str] = ()) -> None:
    """Raise a 422 (or 413) problem saying what is wrong with ``request``; return if nothing is.
    Masks are decoded (they are checked for content), so call this off the event loop."""
    _check_fields(request, engines)
    size = probe_image(request.input_image, "input_image", limits)
    if request.mask is not None:
        _check_mask(request.mask, "mask", limits, size)
    for index, image in enumerate(request.conditional_images or ()):
        if index == 0:
            _check_mask(image, "conditional_images[0]", limits, size)
        else:
            probe_image(image, f"conditional_images[{index}]", limits)
    if request.reference_image is not None and request.reference_mask_R is not None:
        reference_size = probe_image(request.reference_image, "reference_image", limits)
        _check_mask(request.reference_mask_R, "reference_mask_R", limits, reference_size)
