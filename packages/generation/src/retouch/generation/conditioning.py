"""What a model is shown for each task: pure functions of the job, no caches, no hidden state.

For every task the first picture is the input, letterboxed into the working frame; the others
depend on the task:

- ``removal``: picture 2 is the mask (white = remove).
- ``insertion``: picture 2 is the mask (white = where the object goes); picture 3, when there is a
  reference, is the object cut out of it on white.
- ``white-balance``: picture 2, when there is a mask, limits the correction.

Further ``conditional_images`` follow, in order. An empty prompt gets the task's default
instruction, which names the pictures in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from retouch.generation.compositing import binary
from retouch.generation.letterbox import Placement, letterbox
from retouch.generation.validation import EditJob
from retouch.runtime.masks import bbox, cut_out

__all__ = ["DEFAULT_PROMPTS", "Conditioning", "build_conditioning", "cutout", "mask_bbox"]

DEFAULT_PROMPTS: dict[str, str] = {
    "removal": (
        "Remove the object in the white area of picture 2 from picture 1 and fill the area with the "
        "background around it, keeping everything else unchanged."
    ),
    "insertion": (
        "Insert the object of picture 3 into picture 1 at the white area of picture 2, matching the "
        "scene's lighting, perspective and shadows, keeping everything else unchanged."
    ),
    "white-balance": "Correct the white balance of picture 1 so that neutral surfaces look neutral; change nothing else.",
}
_INSERT_WITHOUT_REFERENCE = (
    "Insert {prompt} into picture 1 at the white area of picture 2, keeping everything else unchanged."
)


@dataclass(frozen=True, eq=False)
class Conditioning:
    """The model's inputs for one job: pictures in order, the instruction, the working frame."""

    images: tuple[Image.Image, ...]
    prompt: str
    negative_prompt: str | None
    #: Where the input sits in the frame (to crop the output back).
    placement: Placement
    #: The edit mask in frame coordinates (``None`` for whole-picture white balance).
    frame_mask: Image.Image | None


def mask_bbox(mask: Image.Image) -> tuple[int, int, int, int] | None:
    """``(left, top, right, bottom)`` of the white pixels (right/bottom exclusive), or ``None``."""
    return bbox(binary(mask))


def cutout(reference: Image.Image, reference_mask: Image.Image) -> Image.Image:
    """The object marked by ``reference_mask``: an RGBA picture cropped to the mask's box, its
    alpha the mask (transparent everywhere else)."""
    # The image-utils extract-object cut-out (a hard edge: the mask is binary here).
    return cut_out(reference, np.asarray(reference_mask.convert("L")))[0]


def _on_white(rgba: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", rgba.size, (255, 255, 255))
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def _prompt(job: EditJob) -> str:
    if job.task == "insertion" and job.reference is None:
        return _INSERT_WITHOUT_REFERENCE.format(prompt=job.prompt)
    return job.prompt or DEFAULT_PROMPTS[job.task]


def build_conditioning(job: EditJob, frame: tuple[int, int]) -> Conditioning:
    """The pictures and instruction for ``job`` in a ``frame`` (width, height) working frame."""
    image, placement = letterbox(job.image, frame)
    images: list[Image.Image] = [image]
    frame_mask: Image.Image | None = None
    if job.mask is not None:
        frame_mask, _ = letterbox(job.mask, frame, mask=True)
        images.append(frame_mask.convert("RGB"))
    if job.task == "insertion" and job.reference is not None and job.reference_mask is not None:
        images.append(letterbox(_on_white(cutout(job.reference, job.reference_mask)), frame)[0])
    images.extend(letterbox(extra, frame)[0] for extra in job.extra_conditions)
    return Conditioning(
        images=tuple(images),
        prompt=_prompt(job),
        negative_prompt=job.negative_prompt,
        placement=placement,
        frame_mask=frame_mask,
    )
