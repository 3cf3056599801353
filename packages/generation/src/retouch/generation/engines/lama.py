"""The LaMa engine: removal with big-lama (Suvorov et al., "Resolution-robust Large Mask Inpainting
with Fourier Convolutions"), CPU or GPU.

The weights are the TorchScript export IOPaint distributes (``big-lama.pt``): a scripted module
called as ``model(image, mask)`` with ``image`` ``(1, 3, H, W)`` in 0..1, ``mask`` ``(1, 1, H, W)``
of 0/1, both sides multiples of 8, returning the filled ``(1, 3, H, W)`` picture in 0..1. The file
comes from ``RETOUCH_LAMA_MODEL`` or, when that is unset, from the models directory
(``retouch models pull lama``).

Only a crop around the mask is inpainted: the mask's box grown by a margin of context
(``RETOUCH_LAMA_CROP_MARGIN``, more for large masks), scaled down to the working size when larger
(``RETOUCH_GENERATION_WORKING_SIZE``, or ``RETOUCH_GENERATION_MAX_ORIGINAL_SIDE`` with
``input_quality="original"``), padded to multiples of 8 by mirroring. The output is the input with
that crop replaced; the runner's compositing then keeps every pixel beyond the mask's band
bit-identical to the input.

torch is imported here and nowhere else.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.generation.compositing import binary
from retouch.generation.engines import CancelCheck, EditResult, StageCallback, check_cancelled, prompt_free_notes
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import EditJob
from retouch.runtime.devices import torch_device
from retouch.runtime.problems import field_error
from retouch.runtime.settings import SettingsError

__all__ = ["PAD_MULTIPLE", "LamaEngine", "create", "crop_box", "inpaint"]

#: Both sides of LaMa's input must be multiples of this (its down- and up-sampling stages).
PAD_MULTIPLE = 8


def crop_box(region: NDArray[np.bool_], margin: int) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` (max edges exclusive) LaMa works on: the region's box grown by
    ``margin``, or by half its longer side when that is more (a large hole needs more context),
    clipped to the picture."""
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    if not len(rows):
        raise ValueError("the mask is empty")
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    grow = max(margin, max(x1 - x0, y1 - y0) // 2)
    height, width = region.shape
    return max(0, x0 - grow), max(0, y0 - grow), min(width, x1 + grow), min(height, y1 + grow)


def _pad(array: NDArray[Any], multiple: int) -> NDArray[Any]:
    height, width = array.shape[:2]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not pad_h and not pad_w:
        return array
    widths = ((0, pad_h), (0, pad_w)) + ((0, 0),) * (array.ndim - 2)
    # Mirrored borders keep the padding looking like the picture (IOPaint pads the same way).
    return np.pad(array, widths, mode="symmetric")


def inpaint(
    model: Any, image: Image.Image, mask: Image.Image, *, margin: int, max_side: int, device: str
) -> Image.Image:
    """``image`` with the crop around ``mask`` (mode L, white = fill) inpainted by the TorchScript
    ``model``; pixels outside that crop are the input's own."""
    import cv2
    import torch

    region = binary(mask)
    x0, y0, x1, y1 = crop_box(region, margin)
    source = np.asarray(image.convert("RGB"))
    crop = source[y0:y1, x0:x1]
    hole = region[y0:y1, x0:x1].astype(np.uint8)
    crop_h, crop_w = hole.shape
    scale = min(1.0, max_side / max(crop_h, crop_w))
    if scale < 1.0:
        size = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
        work = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
        # Any masked pixel under a working pixel masks it, so nothing of the object survives the downscale.
        work_hole = (np.asarray(cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA)) > 0).astype(
            np.uint8
        )
    else:
        work, work_hole = crop, hole
    work_h, work_w = work_hole.shape
    padded = _pad(work, PAD_MULTIPLE)
    padded_hole = np.zeros(padded.shape[:2], np.float32)
    padded_hole[:work_h, :work_w] = work_hole

    pixels = torch.from_numpy(np.array(padded, dtype=np.uint8)).to(device).permute(2, 0, 1)[None].float() / 255.0
    hole_tensor = torch.from_numpy(padded_hole).to(device)[None, None]
    with torch.inference_mode():
        output = model(pixels, hole_tensor)
    if tuple(output.shape) != tuple(pixels.shape):
        raise RuntimeError(f"the LaMa model returned a {tuple(output.shape)} tensor for a {tuple(pixels.shape)} input")
    filled = (output[0].permute(1, 2, 0).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu().numpy()
    filled = filled[:work_h, :work_w]
    if scale < 1.0:
        filled = np.asarray(cv2.resize(filled, (crop_w, crop_h), interpolation=cv2.INTER_CUBIC))
    result = source.copy()
    result[y0:y1, x0:x1] = filled
    return Image.fromarray(result, "RGB")


class LamaEngine:
    """Removal with a big-lama TorchScript model; see the module docstring."""

    name = "lama"

    def __init__(self, settings: GenerationSettings) -> None:
        weights = settings.lama_weights()
        if weights is None:
            raise SettingsError(
                "the lama engine needs its weights: run `retouch-local models pull lama` "
                "(or set RETOUCH_LAMA_MODEL to a big-lama.pt file)"
            )
        if not weights.is_file():
            raise SettingsError(f"RETOUCH_LAMA_MODEL: no such file: {weights}")
        self.settings = settings
        self.weights = weights
        self.device = settings.lama_device or "auto"
        self._model: Any = None
        # One TorchScript module: runs on it take turns (and torch already uses every core).
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the TorchScript module onto the device (once per process)."""
        import torch

        device = torch_device(self.settings.lama_device, gpu_available=torch.cuda.is_available)
        with warnings.catch_warnings():
            # torch deprecates TorchScript, but big-lama.pt is one: the warning is no news to a user.
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(self.weights), map_location=device)
        model.eval()
        self._model = model
        self.device = device

    def check(self, job: EditJob) -> None:
        """Refuse everything but removal (LaMa fills holes; it cannot insert or re-light)."""
        if job.task != "removal":
            raise field_error(
                "task_type", f"the lama engine only does removal, not {job.task!r}; use the classic engine for it"
            )
        if job.extra_conditions:
            raise field_error("conditional_images", "the lama engine uses no condition images beyond the mask")

    def edit(self, job: EditJob, on_progress: StageCallback, cancelled: CancelCheck) -> EditResult:
        """Inpaint the crop around the mask in one forward pass."""
        if self._model is None:
            raise RuntimeError("the lama engine is not loaded yet")
        assert job.mask is not None
        on_progress("denoising", 0, 1, "lama removal")
        check_cancelled(cancelled)
        max_side = self.settings.max_original_side if job.input_quality == "original" else self.settings.working_size
        with self._lock:
            check_cancelled(cancelled)
            image = inpaint(
                self._model,
                job.image,
                job.mask,
                margin=self.settings.lama_crop_margin,
                max_side=max_side,
                device=self.device,
            )
        check_cancelled(cancelled)
        on_progress("denoising", 1, 1, "lama removal")
        return EditResult(image=image, seed=None, notes=prompt_free_notes(job, "lama"))


def create(settings: GenerationSettings) -> LamaEngine:
    """The engine factory :func:`~retouch.generation.engines.create_engine` calls."""
    return LamaEngine(settings)
