"""The one set of cross-field rules of a :class:`~retouch.sdk.models.generation.GenerationRequest`.

The jobs service checks a request when it is submitted and the generation service when it runs:
both call :func:`generation_request_errors`, so a request one accepts the other accepts too. The
rules need no picture (sizes and mask contents are checked where the pictures are read).
"""

from __future__ import annotations

from collections.abc import Sequence

from retouch.runtime.problems import ProblemError
from retouch.sdk.models.common import FieldError
from retouch.sdk.models.generation import GenerationRequest

__all__ = ["generation_request_errors", "raise_field_errors"]

#: The tasks that edit only where a mask says.
_NEEDS_MASK = ("removal", "insertion")


def generation_request_errors(request: GenerationRequest, engines: Sequence[str] = ()) -> list[FieldError]:
    """Every rule ``request`` breaks, one :class:`FieldError` each, in field order (empty: none).

    ``engines`` are the engine names the deployment offers; empty skips the engine check.
    """
    errors: list[FieldError] = []

    def check(condition: bool, field: str, message: str) -> None:
        if not condition:
            errors.append(FieldError(field=field, message=message))

    task = request.task_type
    if engines:
        check(
            request.engine is None or request.engine in engines,
            "engine",
            f"unknown engine {request.engine!r}; this deployment offers {', '.join(engines)}",
        )
    has_mask = request.mask is not None or bool(request.conditional_images)
    if task in _NEEDS_MASK:
        check(
            has_mask, "mask", f"{task} needs a mask (or conditional_images with the mask first) marking where to edit"
        )
    check(
        request.mask is None or not request.conditional_images,
        "mask",
        "give the mask either as mask or as conditional_images[0], not both",
    )
    if request.reference_image is not None or request.reference_mask_R is not None:
        if task != "insertion":
            name = "reference_image" if request.reference_image is not None else "reference_mask_R"
            errors.append(FieldError(field=name, message=f"a reference is only used by insertion, not by {task}"))
        else:
            # A reference alone is honoured (its alpha, or the whole picture, is the object; see
            # retouch.runtime.references); a mask R alone has nothing to mask.
            check(
                request.reference_image is not None,
                "reference_image",
                "reference_mask_R was given without the reference_image it masks",
            )
    elif task == "insertion":
        check(
            bool(request.prompt.strip()),
            "prompt",
            "insertion needs a reference_image (the object, optionally with reference_mask_R) or a prompt saying what to insert",
        )
    return errors


def raise_field_errors(errors: Sequence[FieldError], status: int = 422) -> None:
    """Raise one problem listing ``errors`` (``detail`` names each field); return if there are none."""
    if errors:
        detail = "; ".join(f"{error.field}: {error.message}" for error in errors)
        raise ProblemError(status, detail, errors=list(errors))
