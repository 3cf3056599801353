"""Everything about a request that can be wrong is found here, before any model work.

:func:`validate` decodes the images (with the service's pixel limits), checks masks and references
against the task, and returns an :class:`EditJob`: the request as the engines consume it. Each
problem is a 4xx :class:`~retouch.runtime.problems.ProblemError` naming the field.

A mask of another size than the input is refused (422), not resized: a mismatch almost always means
the client drew on a different picture (or a differently cropped one), and a stretched mask would
edit the wrong place without telling anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from retouch.generation.compositing import binary, grow
from retouch.generation.settings import GenerationSettings
from retouch.runtime.images import ImageLimits, open_image, open_mask
from retouch.runtime.masks import to_u8
from retouch.runtime.problems import field_error
from retouch.runtime.references import reference_mask as interpret_reference
from retouch.runtime.references import reference_shape
from retouch.runtime.seed_fields import with_mask_image
from retouch.runtime.subject import subject_mask
from retouch.runtime.validation import generation_request_errors, raise_field_errors
from retouch.sdk.models.generation import RunRequest, TaskType

__all__ = ["EditJob", "validate"]


@dataclass(frozen=True, eq=False)
class EditJob:
    """A validated request: decoded pictures and the parameters every engine reads."""

    run_id: str
    task: TaskType
    engine: str
    #: The input picture, RGB, upright.
    image: Image.Image
    #: Where to edit (mode L, 0 or 255, the input's size), already grown as ``mask_tool_type``
    #: asks; ``None`` only for white balance of the whole picture.
    mask: Image.Image | None
    #: The reference picture (RGB) and the object's mask on it (mode L, 0 or 255), insertion only.
    reference: Image.Image | None = None
    reference_mask: Image.Image | None = None
    #: Further condition pictures (``conditional_images[1:]``), in order.
    extra_conditions: tuple[Image.Image, ...] = ()
    prompt: str = ""
    negative_prompt: str | None = None
    steps: int = 28
    true_cfg_scale: float | None = None
    guidance_scale: float | None = None
    seed: int | None = None
    input_quality: str = "resized"
    mask_tool_type: str = "brush"
    #: ``fast`` / ``best`` as the request asks; ``None``: the engine's default.
    quality: str | None = None
    #: Notes for the caller about fields the engine honours in its own way (sent with the result).
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """The input's (and the output's) size."""
        return self.image.size


def _binary_mask(mask: Image.Image) -> Image.Image:
    return Image.fromarray(binary(mask).astype(np.uint8) * 255, "L")


def _require_nonempty(mask: Image.Image, name: str) -> None:
    if not binary(mask).any():
        raise field_error(name, "mask is empty: no pixel is white (>127), so there is nothing to edit")


def _mask_source(request: RunRequest) -> tuple[bytes | None, str, Sequence[bytes]]:
    if request.conditional_images:
        first, *rest = request.conditional_images
        return first, "conditional_images[0]", rest
    return request.mask, "mask", []


def validate(request: RunRequest, *, run_id: str, settings: GenerationSettings) -> EditJob:
    """Decode and check ``request``; raise a 4xx problem for the first thing that is wrong (every
    broken cross-field rule at once: the jobs service's submit-time rules, the same function)."""
    request = with_mask_image(request)
    raise_field_errors(generation_request_errors(request, settings.engines))
    engine = request.engine or settings.default_engine(request.task_type)
    if engine not in settings.engines:
        raise field_error("engine", f"{engine!r} is not served here; available: {', '.join(settings.engines)}")
    limits = ImageLimits.from_settings(settings)
    image = open_image(request.input_image, field="input_image", limits=limits, mode="RGB")

    mask_data, mask_field, extra_data = _mask_source(request)
    mask: Image.Image | None = None
    if mask_data is not None:
        mask = _binary_mask(open_mask(mask_data, field=mask_field, limits=limits, size=image.size, resize=False))
        _require_nonempty(mask, mask_field)
        if request.mask_tool_type == "brush":
            mask = grow(mask, settings.brush_grow_px)

    extras = tuple(
        open_image(data, field=f"conditional_images[{i + 1}]", limits=limits, mode="RGB")
        for i, data in enumerate(extra_data)
    )

    reference: Image.Image | None = None
    reference_mask: Image.Image | None = None
    notes: list[str] = []
    # generation_request_errors has made sure a reference is for insertion only. Every shape of
    # reference (cut-out with alpha, mask R of another size, picture alone) becomes the picture and
    # the object's mask on it, the same way the jobs service read it (retouch.runtime.references).
    if request.reference_image is not None:
        given = open_image(request.reference_image, field="reference_image", limits=limits, mode=None)
        mask_r = None
        if request.reference_mask_R is not None:
            mask_r = open_mask(request.reference_mask_R, field="reference_mask_R", limits=limits)
        reference_mask = _binary_mask(interpret_reference(given, mask_r))
        _require_nonempty(reference_mask, "reference_mask_R")
        reference = given.convert("RGB")
        if reference_shape(given, mask_r) == "whole_picture":
            # A picture alone: its subject, not its backdrop, is the object (a pasted card is not).
            subject = subject_mask(reference)
            if subject is not None:
                reference_mask = Image.fromarray(to_u8(subject), mode="L")
                notes.append(
                    "reference_image came without reference_mask_R or alpha: its subject was separated from "
                    "the backdrop at its border; send reference_mask_R to choose the object yourself"
                )
            else:
                notes.append(
                    "reference_image came without reference_mask_R or alpha, and no subject stood out from "
                    "its backdrop: the whole picture is the object"
                )

    prompt = request.prompt.strip()

    return EditJob(
        run_id=run_id,
        task=request.task_type,
        engine=engine,
        image=image,
        mask=mask,
        reference=reference,
        reference_mask=reference_mask,
        extra_conditions=extras,
        prompt=prompt,
        negative_prompt=request.negative_prompt,
        steps=request.num_inference_steps,
        true_cfg_scale=request.true_cfg_scale,
        guidance_scale=request.guidance_scale,
        seed=request.seed,
        input_quality=request.input_quality,
        mask_tool_type=request.mask_tool_type,
        quality=request.quality,
        notes=notes,
    )
