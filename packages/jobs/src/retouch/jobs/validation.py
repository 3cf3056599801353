"""What can be checked about a :class:`GenerationRequest` without the model, at submit time, so a
request the generation service would refuse is a 422 now rather than a failed job later: the
fields each task needs (:func:`retouch.runtime.validation.generation_request_errors`, which the
generation service calls too), every image readable and within the limits (the runtime's header
probe, upright sizes), and each mask the size of its picture with something to edit."""

from __future__ import annotations

from collections.abc import Sequence

from retouch.runtime.assets import resolve
from retouch.runtime.images import ImageLimits, open_image, open_mask
from retouch.runtime.images import probe_image as probe
from retouch.runtime.masks import bbox, binary
from retouch.runtime.problems import field_error
from retouch.runtime.validation import generation_request_errors, raise_field_errors
from retouch.sdk.models.generation import GenerationRequest

__all__ = ["probe_image", "validate_request"]


def probe_image(data: bytes, field: str, limits: ImageLimits) -> tuple[int, int]:
    """The upright size of the picture in ``data`` read from its header (EXIF orientation applied,
    as the generation service will decode it); a 4xx naming ``field`` if it is empty, not an
    image, or over the limits (the runtime's probe)."""
    data = resolve(data, field)  # an ``asset:<id>`` the owner holds, else a 404
    header = probe(data, field=field, limits=limits)
    return header.width, header.height


def _check_image(data: bytes, field: str, limits: ImageLimits) -> tuple[int, int]:
    size = probe_image(data, field, limits)
    # A header alone passes a truncated file: the whole picture must decode (within the limits
    # the probe has just checked), or the job would only fail once it runs.
    open_image(resolve(data, field), field=field, limits=limits, mode=None).close()
    return size


def _check_mask(data: bytes, field: str, limits: ImageLimits, size: tuple[int, int]) -> None:
    probe_image(data, field, limits)
    mask = open_mask(data, field=field, limits=limits, size=size, resize=False)
    if bbox(binary(mask)) is None:
        raise field_error(field, "mask is empty: no pixel is white (>127), so there is nothing to edit")


def validate_request(request: GenerationRequest, limits: ImageLimits, engines: Sequence[str] = ()) -> None:
    """Raise a 422 (or 413) problem saying what is wrong with ``request``; return if nothing is.
    Masks are decoded (they are checked for content), so call this off the event loop."""
    raise_field_errors(generation_request_errors(request, engines))
    size = _check_image(request.input_image, "input_image", limits)
    if request.mask is not None:
        _check_mask(request.mask, "mask", limits, size)
    for index, image in enumerate(request.conditional_images or ()):
        if index == 0:
            _check_mask(image, "conditional_images[0]", limits, size)
        else:
            _check_image(image, f"conditional_images[{index}]", limits)
    if request.reference_image is not None:
        _check_image(request.reference_image, "reference_image", limits)
    if request.reference_mask_R is not None:
        # Any size: a mask drawn on the whole original goes with a cut-out of it (runtime.references).
        probe_image(request.reference_mask_R, "reference_mask_R", limits)
        mask = open_mask(request.reference_mask_R, field="reference_mask_R", limits=limits)
        if bbox(binary(mask)) is None:
            raise field_error("reference_mask_R", "mask is empty: no pixel is white (>127), so it marks no object")
