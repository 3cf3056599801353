"""Where a model works on a picture, and back: crops at the model's native size, and letterboxing.

A diffusion model is shown a **crop** around the edit (:func:`plan_crop`), resized to a **frame** of
about the model's native pixel area at the crop's own aspect ratio, both sides multiples of 32
(:func:`model_frame`): no square padding wasted, and exactly the size the Qwen-Image-Edit pipeline
gives its condition latents, so the output's grid and the conditions' grids coincide. The output
is resized back to the crop's box and pasted into the full-resolution input (:func:`paste_back`):
pixels outside the box are the input's own, whatever the input's resolution.

:func:`letterbox` / :func:`unletterbox` (fit into a fixed frame with padding, and back) remain for
engines that need a fixed square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from retouch.runtime.placement import fit

__all__ = [
    "FRAME_MULTIPLE",
    "PAD_RGB",
    "CropPlan",
    "Placement",
    "fit_frame",
    "letterbox",
    "model_frame",
    "paste_back",
    "paste_back_colour",
    "place",
    "plan_crop",
    "unletterbox",
]

#: Both sides of a model frame are multiples of this (the pipeline's own rounding of condition sizes).
FRAME_MULTIPLE = 32
#: Context kept around the mask's box on each side, as a share of the box's side (at least
#: :data:`MIN_CONTEXT_PX`): the model needs to see what surrounds the hole.
CONTEXT_SHARE = 0.5
MIN_CONTEXT_PX = 64
#: The most extreme frame aspect ratio (long side / short side) a crop is given.
MAX_ASPECT = 3.0

#: Padding of letterboxed pictures: neutral grey, so it reads as "nothing here" to a model.
PAD_RGB = (127, 127, 127)


@dataclass(frozen=True)
class Placement:
    """Where the original picture sits inside the letterboxed frame."""

    frame: tuple[int, int]
    box: tuple[int, int, int, int]
    original: tuple[int, int]

    @property
    def scale(self) -> float:
        """Frame pixels per original pixel."""
        return (self.box[2] - self.box[0]) / self.original[0]


def place(size: tuple[int, int], frame: tuple[int, int]) -> Placement:
    """The centred, aspect-keeping placement of a ``size`` picture inside ``frame`` (the runtime's
    :func:`~retouch.runtime.placement.fit`, as the image-utils letterbox places it)."""
    return Placement(frame=frame, box=fit(size, frame).box, original=size)


def letterbox(image: Image.Image, frame: tuple[int, int], *, mask: bool = False) -> tuple[Image.Image, Placement]:
    """``image`` fitted into ``frame``: resized keeping its aspect, centred, padded.

    Masks (``mask=True``) are resized with nearest-neighbour and padded with black (no edit), so
    they stay binary; pictures are resized with Lanczos and padded with neutral grey.
    """
    placement = place(image.size, frame)
    left, top, right, bottom = placement.box
    content_size = (right - left, bottom - top)
    resample = Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS
    content = image if image.size == content_size else image.resize(content_size, resample)
    fill: int | tuple[int, ...] = 0 if mask else PAD_RGB if image.mode == "RGB" else 127
    canvas = Image.new(image.mode, frame, fill)
    canvas.paste(content, (left, top))
    return canvas, placement


def unletterbox(image: Image.Image, placement: Placement) -> Image.Image:
    """The model's output of a letterboxed frame, cropped to the picture and resized back to the
    original size exactly."""
    if image.size != placement.frame:
        image = image.resize(placement.frame, Image.Resampling.LANCZOS)
    content = image.crop(placement.box)
    if content.size != placement.original:
        content = content.resize(placement.original, Image.Resampling.LANCZOS)
    return content


def fit_frame(size: tuple[int, int], max_side: int, multiple: int = 16) -> tuple[int, int]:
    """The working frame for ``input_quality="original"``: the picture's own size, scaled down to
    ``max_side`` if larger, rounded to ``multiple`` (what the model's latent grid needs)."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    frame_w = max(multiple, round(width * scale / multiple) * multiple)
    frame_h = max(multiple, round(height * scale / multiple) * multiple)
    return min(frame_w, max_side), min(frame_h, max_side)


def _dimensions(area: int, ratio: float) -> tuple[int, int]:
    # The pipeline's calculate_dimensions: sides for ``area`` at ``ratio``, rounded to 32.
    width = math.sqrt(area * ratio)
    height = width / ratio
    return (
        max(FRAME_MULTIPLE, round(width / FRAME_MULTIPLE) * FRAME_MULTIPLE),
        max(FRAME_MULTIPLE, round(height / FRAME_MULTIPLE) * FRAME_MULTIPLE),
    )


def model_frame(size: tuple[int, int], area: int) -> tuple[int, int]:
    """The frame (width, height) a picture of ``size`` is shown to the model at: about ``area``
    pixels, ``size``'s aspect ratio (clamped to :data:`MAX_ASPECT`), both sides multiples of 32.

    It is a fixed point of the pipeline's own sizing: a condition picture of this size is resized by
    the pipeline to this same size, so output and condition latents cover the same pixels.
    """
    ratio = min(MAX_ASPECT, max(1 / MAX_ASPECT, size[0] / size[1]))
    frame = _dimensions(area, ratio)
    if _dimensions(area, frame[0] / frame[1]) == frame:
        return frame
    # Rounding moved it: take the nearest frame that is its own image under the pipeline's sizing.
    candidates = [
        (frame[0] + dx * FRAME_MULTIPLE, frame[1] + dy * FRAME_MULTIPLE) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
    ]
    fixed = [c for c in candidates if min(c) > 0 and _dimensions(area, c[0] / c[1]) == c]
    if not fixed:
        return _dimensions(area, frame[0] / frame[1])
    return min(fixed, key=lambda c: abs(math.log((c[0] / c[1]) / ratio)))


@dataclass(frozen=True)
class CropPlan:
    """Which part of the input the model sees, and at what size."""

    #: ``(left, top, right, bottom)`` in the input's pixels (right/bottom exclusive).
    box: tuple[int, int, int, int]
    #: The model's frame (width, height) the box is resized to.
    frame: tuple[int, int]

    @property
    def box_size(self) -> tuple[int, int]:
        """The box's (width, height) in input pixels."""
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    @property
    def scale(self) -> float:
        """Frame pixels per input pixel (geometric mean of the two axes)."""
        width, height = self.box_size
        return math.sqrt(self.frame[0] * self.frame[1] / (width * height))

    def to_frame(self, image: Image.Image, *, mask: bool = False) -> Image.Image:
        """``image`` (the input's size) cropped to the box and resized to the frame (nearest for
        masks, so they stay binary; Lanczos for pictures)."""
        crop = image.crop(self.box)
        if crop.size == self.frame:
            return crop
        return crop.resize(self.frame, Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS)


def _span(lo: int, hi: int, want: int, limit: int) -> tuple[int, int]:
    """``[lo, hi)`` widened (or narrowed) about its centre to ``want`` long, kept inside ``[0, limit)``."""
    want = max(1, min(want, limit))
    centre = (lo + hi) / 2
    start = round(centre - want / 2)
    start = min(max(0, start), limit - want)
    return start, start + want


def plan_crop(
    size: tuple[int, int],
    mask_box: tuple[int, int, int, int] | None,
    area: int,
    *,
    whole: bool = False,
) -> CropPlan:
    """Where the model looks for an edit of a ``size`` picture whose mask spans ``mask_box``.

    ``whole`` (or no mask): the whole picture, resized to about ``area`` pixels. Otherwise a box
    around the mask with context on every side (:data:`CONTEXT_SHARE`), enlarged towards ``area``
    input pixels while the picture allows, so the model works at the input's native resolution
    when the edit is small, and the box is shrunk to the frame's size only when the edit itself is
    larger than the model's area. The box's aspect ratio follows the frame's, so the resize does
    not distort.
    """
    width, height = size
    if whole or mask_box is None:
        return CropPlan(box=(0, 0, width, height), frame=model_frame(size, area))
    left, top, right, bottom = mask_box
    pad_x = max(MIN_CONTEXT_PX, round((right - left) * CONTEXT_SHARE))
    pad_y = max(MIN_CONTEXT_PX, round((bottom - top) * CONTEXT_SHARE))
    box_w = min(width, right - left + 2 * pad_x)
    box_h = min(height, bottom - top + 2 * pad_y)
    # More context costs nothing while the box holds fewer input pixels than the model's area.
    if box_w * box_h < area:
        grow = math.sqrt(area / (box_w * box_h))
        box_w, box_h = min(width, math.ceil(box_w * grow)), min(height, math.ceil(box_h * grow))
        if box_w * box_h < area:  # one side hit the picture's edge: give the other side the rest
            if box_w == width:
                box_h = min(height, math.ceil(area / box_w))
            else:
                box_w = min(width, math.ceil(area / box_h))
    frame = model_frame((box_w, box_h), area)
    # Match the box's aspect to the frame's, widening the short side where the picture allows.
    target = frame[0] / frame[1]
    if box_w / box_h < target:
        box_w = min(width, round(box_h * target))
    else:
        box_h = min(height, round(box_w / target))
    x0, x1 = _span(left, right, box_w, width)
    y0, y1 = _span(top, bottom, box_h, height)
    return CropPlan(box=(x0, y0, x1, y1), frame=frame)


def paste_back(original: Image.Image, output: Image.Image, plan: CropPlan) -> Image.Image:
    """The model's ``output`` (any size; resized to the frame, then to the box) pasted into a copy
    of ``original`` at the plan's box: every pixel outside the box is ``original``'s own."""
    if output.size != plan.box_size:
        output = output.resize(plan.box_size, Image.Resampling.LANCZOS)
    result = original.copy()
    result.paste(output.convert(original.mode), plan.box[:2])
    return result


def paste_back_colour(
    original: Image.Image, output: Image.Image, plan: CropPlan, *, smooth_px: float = 1.5
) -> Image.Image:
    """For a colour edit (white balance): the change the model made, as a smooth per-pixel, per-channel
    gain measured at the frame's size, applied to ``original``'s own full-resolution pixels in the
    plan's box, so a picture larger than the frame keeps all of its detail. ``smooth_px`` (frame
    pixels) blurs the gain against the model's noise."""
    import cv2
    import numpy as np

    reference = np.asarray(plan.to_frame(original.convert("RGB")), dtype=np.float32)
    edited = np.asarray(output.convert("RGB").resize(plan.frame, Image.Resampling.LANCZOS), dtype=np.float32)
    gain = (edited + 1.0) / (reference + 1.0)
    if smooth_px > 0:
        gain = cv2.GaussianBlur(gain, (0, 0), smooth_px)
    crop = np.asarray(original.convert("RGB").crop(plan.box), dtype=np.float32)
    if gain.shape[:2] != crop.shape[:2]:
        gain = cv2.resize(gain, plan.box_size, interpolation=cv2.INTER_LINEAR)
    pixels = np.clip(np.rint((crop + 1.0) * gain - 1.0), 0, 255).astype(np.uint8)
    result = original.convert("RGB").copy()
    result.paste(Image.fromarray(pixels, "RGB"), plan.box[:2])
    return result
