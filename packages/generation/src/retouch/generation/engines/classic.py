"""The classic engine: no weights, CPU only, deterministic, fast.

- ``removal``: by default (``RETOUCH_CLASSIC_INPAINT_METHOD=exemplar``) an exemplar fill made of the
  picture's own patches (:mod:`retouch.generation.engines.exemplar`), on a crop around the mask at
  full resolution, so texture continues into the hole and a 12 MP photo costs what its hole costs.
  ``telea`` / ``ns`` are OpenCV's diffusion inpainting (fast marching / Navier-Stokes): smooth fills,
  no texture. For those, ``input_quality="resized"`` inpaints a picture larger than the working size
  at that size and scales back only the filled region; ``"original"`` inpaints at full resolution.
- ``insertion``: the object is cut out of ``reference_image`` with ``reference_mask_R``, scaled to
  fit the target mask's box keeping its aspect, stood on the box's bottom edge, given a soft contact
  shadow, and composited with a feathered alpha, which keeps its colours exactly (the default,
  ``RETOUCH_CLASSIC_BLEND=alpha``); ``poisson`` blends the seam away but shifts the object's colours
  towards the scene's.
- ``white-balance``: :mod:`retouch.runtime.white_balance`, the estimate the image-utils preview uses
  (clipped pixels excluded, in linear light, capped gains that keep luminance).

The model-only fields (prompt, negative prompt, steps, guidance, seed) do not change its output;
when a request sets them, the result says so in its notes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from retouch.generation.conditioning import cutout, mask_bbox
from retouch.generation.engines import CancelCheck, EditResult, StageCallback, check_cancelled, prompt_free_notes
from retouch.generation.engines.exemplar import exemplar_fill
from retouch.generation.engines.white_balance import white_balance
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import EditJob
from retouch.runtime.masks import bbox, binary
from retouch.runtime.problems import field_error

__all__ = ["ClassicEngine", "create", "insert_object", "remove_object"]


def _writable(image: Image.Image) -> NDArray[np.uint8]:
    # OpenCV misreads the read-only buffers np.asarray gives for PIL images (seamlessClone returns
    # wrong pixels); a private, writable copy is always safe.
    return np.array(image, dtype=np.uint8)


def remove_object(
    image: Image.Image,
    mask: Image.Image,
    *,
    method: str,
    radius: int,
    max_side: int | None,
    check: Callable[[], None] | None = None,
) -> Image.Image:
    """``image`` with the masked region filled by ``method`` (``exemplar``, ``telea`` or ``ns``); the
    diffusion methods work at most ``max_side`` pixels a side (the exemplar fill works on a crop)."""
    import cv2  # OpenCV is imported by the engine that uses it, not by the service

    if method == "exemplar":
        return _remove_by_exemplar(image, mask, check)
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    region = binary(mask).astype(np.uint8) * 255
    if max_side is None or max(image.size) <= max_side:
        return Image.fromarray(cv2.inpaint(_writable(image), region, radius, flag), "RGB")
    scale = max_side / max(image.size)
    small_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(small_size, Image.Resampling.LANCZOS)
    # Grown by one working pixel so that no masked full-size pixel maps onto an unmasked small one.
    small_region = mask.resize(small_size, Image.Resampling.BOX).point(lambda v: 255 if v > 0 else 0)
    small_region = small_region.filter(ImageFilter.MaxFilter(3))
    filled = cv2.inpaint(_writable(small), _writable(small_region), max(1, round(radius * scale)), flag)
    upscaled = Image.fromarray(filled, "RGB").resize(image.size, Image.Resampling.BICUBIC)
    result = image.copy()
    result.paste(upscaled, mask=Image.fromarray(region, "L"))
    return result


#: Context kept around the hole on each side, as a share of the hole's larger side (and at least
#: ``_LEAST_MARGIN`` pixels): the patches come from there. Half the hole: near enough that they are
#: of the surface the hole is in (a wider crop let a face be copied onto a suit), wide enough for
#: texture to repeat.
_MARGIN_SHARE = 0.5
_LEAST_MARGIN = 24


def _remove_by_exemplar(image: Image.Image, mask: Image.Image, check: Callable[[], None] | None) -> Image.Image:
    hole = binary(mask)
    box = bbox(hole)
    if box is None:
        return image.copy()
    left, top, right, bottom = box
    margin = max(_LEAST_MARGIN, round(_MARGIN_SHARE * max(right - left, bottom - top)))
    left, top = max(0, left - margin), max(0, top - margin)
    right, bottom = min(image.width, right + margin), min(image.height, bottom + margin)
    pixels = _writable(image.convert("RGB"))
    crop = pixels[top:bottom, left:right]
    pixels[top:bottom, left:right] = exemplar_fill(
        np.ascontiguousarray(crop), hole[top:bottom, left:right], check=check
    )
    return Image.fromarray(pixels, "RGB")


def _shadow(size: tuple[int, int], foot: tuple[int, int, int], opacity: float) -> Image.Image:
    """A soft elliptical contact shadow (mode L, 255 = full ``opacity``) under an object whose
    bottom edge spans ``foot = (left, right, y)``."""
    left, right, y = foot
    width = right - left
    half_height = max(2.0, width * 0.08)
    layer = Image.new("L", size, 0)
    ImageDraw.Draw(layer).ellipse(
        (left + width * 0.05, y - half_height, right - width * 0.05, y + half_height * 0.6), fill=round(255 * opacity)
    )
    return layer.filter(ImageFilter.GaussianBlur(max(1.5, half_height * 0.6)))


def _darken(image: Image.Image, shadow: Image.Image, spare: Image.Image) -> Image.Image:
    """``image`` darkened by ``shadow`` (mode L) except where ``spare`` (mode L) covers it."""
    pixels = np.asarray(image).astype(np.float32)
    strength = np.asarray(shadow).astype(np.float32) * (1.0 - np.asarray(spare).astype(np.float32) / 255.0)
    factor = 1.0 - strength[..., None] / 255.0
    return Image.fromarray(np.clip(np.rint(pixels * factor), 0, 255).astype(np.uint8), "RGB")


#: OpenCV's solver erodes the clone region by about five pixels; the region reaches seven past the
#: object so that the object itself is never part of the boundary.
_POISSON_MARGIN = 7


def _poisson(canvas: Image.Image, source: Image.Image, alpha: Image.Image) -> Image.Image | None:
    """Poisson-blend ``source`` (the reference, placed over the canvas) into ``canvas`` over the
    object of ``alpha`` and a margin around it; ``None`` where OpenCV cannot (region at the border)."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * _POISSON_MARGIN + 1, 2 * _POISSON_MARGIN + 1))
    region = np.asarray(cv2.dilate(binary(alpha).astype(np.uint8), kernel), dtype=np.uint8) * 255
    region[:2, :] = 0
    region[-2:, :] = 0
    region[:, :2] = 0
    region[:, -2:] = 0
    points = cv2.findNonZero(region)
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    try:
        blended = cv2.seamlessClone(
            _writable(source), _writable(canvas), region, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE
        )
    except cv2.error:
        return None
    return Image.fromarray(np.asarray(blended, dtype=np.uint8), "RGB")


def insert_object(
    image: Image.Image,
    mask: Image.Image,
    reference: Image.Image,
    reference_mask: Image.Image,
    *,
    blend: str,
    shadow_opacity: float,
) -> Image.Image:
    """``image`` with the object of ``reference`` (marked by ``reference_mask``) placed in the box of
    ``mask``: as large as fits, aspect kept, centred, standing on the box's bottom edge.

    ``blend="alpha"`` pastes the object with a feathered edge and keeps its colours exactly.
    ``blend="poisson"`` clones it together with a margin of its reference surroundings, solving for
    the scene's boundary: the seam disappears and the object's colours shift towards the scene's
    light (how much depends on how the reference's backdrop differs from the target's).
    """
    target = mask_bbox(mask)
    object_box = mask_bbox(reference_mask)
    if target is None or object_box is None:
        raise ValueError("target or reference mask is empty")
    obj = cutout(reference, reference_mask)
    left, top, right, bottom = target
    box_w, box_h = right - left, bottom - top
    scale = min(box_w / obj.width, box_h / obj.height)
    size = (max(1, min(box_w, round(obj.width * scale))), max(1, min(box_h, round(obj.height * scale))))
    obj = obj.resize(size, Image.Resampling.LANCZOS)
    x = left + (box_w - size[0]) // 2
    y = bottom - size[1]

    # A one-pixel feather hides the cut-out's jagged edge.
    soft = obj.getchannel("A").filter(ImageFilter.GaussianBlur(0.8))
    alpha = Image.new("L", image.size, 0)
    alpha.paste(soft, (x, y))
    blended: Image.Image | None = None
    if blend == "poisson":
        placed_size = (max(1, round(reference.width * scale)), max(1, round(reference.height * scale)))
        placed = reference.resize(placed_size, Image.Resampling.LANCZOS)
        source = image.copy()
        source.paste(placed, (x - round(object_box[0] * scale), y - round(object_box[1] * scale)))
        source.paste(obj.convert("RGB"), (x, y), soft)  # the object exactly where the alpha says
        blended = _poisson(image, source, alpha)
    if blended is None:
        blended = image.copy()
        blended.paste(obj.convert("RGB"), (x, y), soft)
    if shadow_opacity > 0:
        blended = _darken(blended, _shadow(image.size, (x, x + size[0], bottom), shadow_opacity), alpha)
    return blended


class ClassicEngine:
    """OpenCV and NumPy edits; see the module docstring."""

    name = "classic"
    device = "cpu"

    def __init__(self, settings: GenerationSettings) -> None:
        self.settings = settings

    def load(self) -> None:
        """Nothing to load; importing OpenCV here keeps the first edit's latency down."""
        import cv2  # noqa: F401

    def check(self, job: EditJob) -> None:
        """Refuse what only a generative model can do."""
        if job.extra_conditions:
            raise field_error("conditional_images", "the classic engine uses no condition images beyond the mask")
        if job.task == "insertion" and job.reference is None:
            raise field_error(
                "reference_image",
                "the classic engine inserts from a reference: give reference_image and reference_mask_R",
            )

    def edit(self, job: EditJob, on_progress: StageCallback, cancelled: CancelCheck) -> EditResult:
        """Run the task's edit as one step."""
        on_progress("denoising", 0, 1, f"classic {job.task}")
        check_cancelled(cancelled)
        settings = self.settings
        if job.task == "removal":
            assert job.mask is not None
            max_side = settings.working_size if job.input_quality == "resized" else None
            image = remove_object(
                job.image,
                job.mask,
                method=settings.classic_inpaint_method,
                radius=settings.classic_inpaint_radius,
                max_side=max_side,
                check=lambda: check_cancelled(cancelled),
            )
        elif job.task == "insertion":
            assert job.mask is not None and job.reference is not None and job.reference_mask is not None
            image = insert_object(
                job.image,
                job.mask,
                job.reference,
                job.reference_mask,
                blend=settings.classic_blend,
                shadow_opacity=settings.classic_shadow_opacity,
            )
        else:
            image = white_balance(job.image)
        check_cancelled(cancelled)
        on_progress("denoising", 1, 1, f"classic {job.task}")
        return EditResult(image=image, seed=None, notes=prompt_free_notes(job, "classic", also="num_inference_steps"))


def create(settings: GenerationSettings) -> ClassicEngine:
    """The engine factory :func:`~retouch.generation.engines.create_engine` calls."""
    return ClassicEngine(settings)
