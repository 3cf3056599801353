"""What a model is shown for each task: pure functions of their inputs, no caches, no hidden state.

**Profiles.** A LoRA learns one layout of condition pictures and one prompt; shown another, it
edits badly (a removal LoRA shown the unmasked picture sees the object it must remove). So the
conditioning is chosen per task by profile (``RETOUCH_QWEN_PROFILES``), one per LoRA family:

``seed`` (the seed system's LoRAs ``removal_cp``, ``insertion_cp``, ``wb_cp``; 10 steps):

- ``removal``: ``[picture with the hole black, mask, picture pre-filled by a removal engine]``,
  prompt ``"remove object"``, no CFG.
- ``insertion``: ``[reference stretched to the picture's size, the reference's mask scaled into the
  target mask's box and widened for a shadow, the picture with that object's hole black and the
  shadow region darkened]``, composited over the widened mask, no CFG.
- ``white-balance``: ``[picture, Canny edges of the bilateral-filtered picture]``, true CFG 3.3.

``instruct`` (the base model, or LoRAs trained on it): picture 1 the picture, picture 2 the mask,
picture 3 (insertion with a reference) the object cut out on white, and an instruction that names
the pictures in that order (:data:`DEFAULT_PROMPTS`).

Every profile gets the pictures already cropped to the model's frame (:class:`Framed`) and returns
a :class:`Profiled`. Further ``conditional_images`` follow the profile's pictures, in order.

:func:`build_conditioning` is the letterboxed ``instruct`` layout of the whole picture, for engines
that work on a fixed square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from retouch.generation.compositing import binary
from retouch.generation.letterbox import Placement, letterbox
from retouch.generation.validation import EditJob
from retouch.runtime.masks import bbox, cut_out

__all__ = [
    "DEFAULT_PROMPTS",
    "PROFILES",
    "SEED_CFG",
    "SEED_PROMPTS",
    "SEED_STEPS",
    "Conditioning",
    "Framed",
    "Profiled",
    "build_conditioning",
    "canny_edges",
    "cutout",
    "darken",
    "hole",
    "instruct_profile",
    "mask_bbox",
    "place_reference_mask",
    "seed_profile",
    "widen_for_shadow",
]

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


# -- profiles -----------------------------------------------------------------------------------

#: The seed's prompts. Only removal's is the seed's verbatim text; the seed's LoRAs for insertion and
#: white balance were trained on equally short task names.
SEED_PROMPTS: dict[str, str] = {
    "removal": "remove object",
    "insertion": "insert object",
    "white-balance": "white balance",
}
#: The seed's denoising steps, for every task.
SEED_STEPS = 10
#: The seed's true CFG scale per task (1.0: no CFG, one transformer pass a step).
SEED_CFG: dict[str, float] = {"removal": 1.0, "insertion": 1.0, "white-balance": 3.3}
#: How the seed widens an inserted object's mask for its shadow: all round by this share of the
#: object's longer side, and downwards by this share of its height.
SHADOW_AROUND_SHARE = 0.04
SHADOW_BELOW_SHARE = 0.15
#: How much the shadow region of the insertion picture is darkened (its brightness is multiplied).
SHADOW_DARKEN = 0.5


@dataclass(frozen=True, eq=False)
class Framed:
    """One job's inputs as a profile receives them: the picture and mask already cropped to the
    model's frame (same size), the reference as given, the instruction as the client wrote it."""

    task: str
    picture: Image.Image
    #: Mode L, 0/255, the picture's size; ``None`` for white balance of the whole picture.
    mask: Image.Image | None = None
    reference: Image.Image | None = None
    reference_mask: Image.Image | None = None
    #: Further condition pictures, already at the frame's size.
    extras: tuple[Image.Image, ...] = ()
    prompt: str = ""
    negative_prompt: str | None = None
    #: The hole pre-filled by a removal engine (``seed`` removal), the picture's size.
    prefill: Image.Image | None = None
    #: The prompt the task's LoRA was trained on, where the deployment names it
    #: (``RETOUCH_QWEN_PROMPTS``); ``None``: the profile's own.
    trained_prompt: str | None = None

    @property
    def frame(self) -> tuple[int, int]:
        """The frame's (width, height)."""
        return self.picture.size


@dataclass(frozen=True, eq=False)
class Profiled:
    """A profile's answer: the model's inputs and the settings it was trained with."""

    images: tuple[Image.Image, ...]
    prompt: str
    negative_prompt: str | None = None
    #: The profile's steps and true CFG scale (``None``: the request's, or the service's default).
    steps: int | None = None
    true_cfg_scale: float | None = None
    #: Where the output is composited (frame coordinates), when it is not the job's mask.
    composite_mask: Image.Image | None = None
    notes: tuple[str, ...] = ()


def _l(region: np.ndarray) -> Image.Image:
    return Image.fromarray(region.astype(np.uint8) * 255, "L")


def hole(picture: Image.Image, mask: Image.Image) -> Image.Image:
    """``picture`` with the mask's pixels black."""
    pixels = np.array(picture.convert("RGB"))
    pixels[binary(mask)] = 0
    return Image.fromarray(pixels, "RGB")


def darken(picture: Image.Image, region: Image.Image, factor: float = SHADOW_DARKEN) -> Image.Image:
    """``picture`` with the pixels of ``region`` multiplied by ``factor`` (rounded)."""
    pixels = np.array(picture.convert("RGB"), dtype=np.float32)
    inside = binary(region)
    pixels[inside] = np.rint(pixels[inside] * factor)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def canny_edges(picture: Image.Image, low: int = 100, high: int = 200) -> Image.Image:
    """White Canny edges on black of the bilateral-filtered picture (the filter keeps edges and
    flattens texture and noise, so only the scene's structure remains), as RGB."""
    import cv2

    smooth = cv2.bilateralFilter(np.asarray(picture.convert("RGB")), 9, 75, 75)
    edges = cv2.Canny(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), low, high)
    return Image.fromarray(edges, "L").convert("RGB")


def place_reference_mask(reference_mask: Image.Image, target_mask: Image.Image) -> Image.Image:
    """The object's silhouette from ``reference_mask`` scaled into the box of ``target_mask`` (on a
    canvas of the target's size): the shape the inserted object will have."""
    source = mask_bbox(reference_mask)
    target = mask_bbox(target_mask)
    if source is None or target is None:
        raise ValueError("both masks must mark something")
    shape = reference_mask.convert("L").crop(source)
    size = (target[2] - target[0], target[3] - target[1])
    shape = shape.resize(size, Image.Resampling.NEAREST)
    canvas = Image.new("L", target_mask.size, 0)
    canvas.paste(shape, target[:2])
    return _l(binary(canvas))


def widen_for_shadow(
    mask: Image.Image, *, around_share: float = SHADOW_AROUND_SHARE, below_share: float = SHADOW_BELOW_SHARE
) -> Image.Image:
    """``mask`` widened for the shadow its object casts (see :func:`~retouch.generation.compositing.edit_region`)."""
    from retouch.generation.compositing import edit_region

    return edit_region(mask, around_px=1, below_share=below_share, around_share=around_share)


def _prompt_note(framed: Framed, prompt: str) -> tuple[str, ...]:
    if framed.prompt and framed.prompt != prompt:
        return (f"prompt: the seed profile's LoRA was trained on {prompt!r}, which was used instead",)
    return ()


def seed_profile(framed: Framed) -> Profiled:
    """The seed's layouts, prompts, steps and CFG (see the module's docstring)."""
    task = framed.task
    prompt = framed.trained_prompt or SEED_PROMPTS[task]
    notes = _prompt_note(framed, prompt)
    if task == "removal":
        if framed.mask is None or framed.prefill is None:
            raise ValueError("seed removal needs the mask and the pre-filled picture")
        images: list[Image.Image] = [hole(framed.picture, framed.mask), framed.mask.convert("RGB"), framed.prefill]
        return Profiled(
            images=(*images, *framed.extras),
            prompt=prompt,
            steps=SEED_STEPS,
            true_cfg_scale=SEED_CFG[task],
            notes=notes,
        )
    if task == "insertion":
        if framed.mask is None or framed.reference is None or framed.reference_mask is None:
            raise ValueError("seed insertion needs the target mask, the reference and its mask")
        placed = place_reference_mask(framed.reference_mask, framed.mask)
        widened = widen_for_shadow(placed)
        shadow = _l(binary(widened) & ~binary(placed))
        base = darken(hole(framed.picture, placed), shadow)
        stretched = framed.reference.convert("RGB").resize(framed.frame, Image.Resampling.LANCZOS)
        return Profiled(
            images=(stretched, widened.convert("RGB"), base, *framed.extras),
            prompt=prompt,
            steps=SEED_STEPS,
            true_cfg_scale=SEED_CFG[task],
            composite_mask=widened,
            notes=notes,
        )
    images = [framed.picture.convert("RGB"), canny_edges(framed.picture)]
    negative = framed.negative_prompt if framed.negative_prompt is not None else " "
    return Profiled(
        images=(*images, *framed.extras),
        prompt=prompt,
        negative_prompt=negative,
        steps=SEED_STEPS,
        true_cfg_scale=SEED_CFG[task],
        notes=notes,
    )


def instruct_profile(framed: Framed) -> Profiled:
    """Picture, mask, cut-out on white, with a descriptive instruction (see the module's docstring)."""
    images: list[Image.Image] = [framed.picture.convert("RGB")]
    if framed.mask is not None:
        images.append(framed.mask.convert("RGB"))
    has_reference = framed.reference is not None and framed.reference_mask is not None
    if framed.task == "insertion" and has_reference:
        object_on_white = _on_white(cutout(framed.reference, framed.reference_mask))  # type: ignore[arg-type]
        images.append(letterbox(object_on_white, framed.frame)[0])
    if framed.task == "insertion" and not has_reference:
        prompt = _INSERT_WITHOUT_REFERENCE.format(prompt=framed.prompt)
    else:
        prompt = framed.prompt or framed.trained_prompt or DEFAULT_PROMPTS[framed.task]
    return Profiled(images=(*images, *framed.extras), prompt=prompt, negative_prompt=framed.negative_prompt)


#: Every profile by name (``RETOUCH_QWEN_PROFILES``).
PROFILES = {"seed": seed_profile, "instruct": instruct_profile}
