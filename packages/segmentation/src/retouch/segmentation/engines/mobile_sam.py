"""MobileSAM: a promptable Segment Anything model small enough for a CPU.

MobileSAM (Zhang et al., 2023) keeps SAM's prompt encoder and mask decoder and replaces its 600M
ViT-H image encoder by a 5M-parameter TinyViT distilled from it. The split suits the service: the
image encoder runs once per picture (:meth:`MobileSAMEngine.prepare`, about a second on two CPU
cores; the service caches its 64x64 embedding per ``image_id``), and every click only runs the
prompt encoder and mask decoder (tens of milliseconds) on that embedding.

The weights are MobileSAM's own checkpoint (``mobile_sam.pt``: a ``state_dict`` of the whole
model), from ``RETOUCH_MOBILE_SAM_WEIGHTS`` or the models directory
(``retouch-local models pull mobile_sam``). The architecture is ultralytics' ``build_mobile_sam``
(ultralytics is already the ``fastsam`` extra); the checkpoint is loaded here with
``torch.load(weights_only=True)``, so no code from the file runs and nothing is ever downloaded.

How prompts map to SAM's: include / exclude clicks are its positive / negative points; a box is
its box; a brush stroke becomes the stroke's box plus points along its middle (so its shape counts);
``auto_detect`` without other prompts is a box inset from the picture's edges. A single click is
ambiguous (a shirt or the person?): SAM's three candidate masks are computed and the one it
rates best is kept. Specks (parts under 0.1 % of the picture that no include click is on) are
dropped at the input resolution before the mask is scaled to the picture's size.

torch and ultralytics are imported here only, when the model loads.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from retouch.runtime.cancel import CancelToken
from retouch.runtime.devices import torch_device
from retouch.runtime.settings import SettingsError, env_name
from retouch.segmentation.engines import PreparedImage, Segment
from retouch.segmentation.engines.ultralytics_import import prepare
from retouch.segmentation.prompts import Prompts
from retouch.segmentation.settings import SegmentationSettings

__all__ = ["INPUT_SIZE", "MobileSAMEngine", "SamImage", "drop_specks"]

log = logging.getLogger("retouch.segmentation.mobile_sam")

#: The side of SAM's square input; the longest side of every picture is scaled to it.
INPUT_SIZE = 1024
# SAM's normalisation (ImageNet statistics on 0..255 pixels).
_PIXEL_MEAN = (123.675, 116.28, 103.53)
_PIXEL_STD = (58.395, 57.12, 57.375)
# Inset of the auto-detect box, as a fraction of each side (as the GrabCut engine does).
_AUTO_INSET = 0.06
# Points a brush stroke contributes along its middle.
_STROKE_POINTS = 6
# Parts of a mask smaller than this share of the picture are specks, dropped unless clicked on
# (at the input resolution: cheap there, and the full-size mask stays clean for hole filling).
_MIN_PART = 0.001
# Logits are carried to full size as uint8 (128 + 32 * logit, so 0 stays the threshold): a quarter
# of the memory traffic of float32, which is what upscaling a mask to 12 MP costs.
_LOGIT_GAIN = 32.0


@dataclass(frozen=True, eq=False)
class SamImage:
    """A picture encoded by MobileSAM's image encoder."""

    width: int
    height: int
    #: The ``(1, 256, 64, 64)`` image embedding (a torch tensor on the engine's device).
    embedding: Any
    #: The picture's size inside the 1024x1024 input, ``(width, height)``.
    input_size: tuple[int, int]

    @property
    def nbytes(self) -> int:
        """Memory held by the embedding."""
        return int(self.embedding.element_size() * self.embedding.nelement())


class MobileSAMEngine:
    """The :class:`~retouch.segmentation.engines.Engine` built on MobileSAM."""

    name = "mobile_sam"

    def __init__(self, settings: SegmentationSettings) -> None:
        weights = settings.mobile_sam_weights
        if weights is None or not Path(weights).is_file():
            var = env_name(SegmentationSettings, "mobile_sam_weights")
            raise SettingsError(
                f"{var}: MobileSAM weights file not found: {weights} (run `retouch-local models pull mobile_sam`)"
            )
        self.weights = Path(weights)
        self._device = settings.device
        self._dtype_setting = settings.mobile_sam_dtype
        #: The encoder's precision once loaded (``float32`` or ``bfloat16``).
        self.dtype = "float32"
        self._lock = threading.Lock()
        #: The loaded ``SAMModel`` (``None`` until :meth:`load` ran).
        self.model: Any = None
        self._dense_pe: Any = None
        #: How many pictures went through the image encoder (not counting the warm-up).
        self.encodings = 0

    @property
    def aliases(self) -> frozenset[str]:
        """``model_type`` values that select this engine."""
        return frozenset({"mobile_sam", "mobilesam", "sam"})

    @property
    def device(self) -> str:
        """Where the model runs (``cuda`` when a GPU is present and the device is ``auto``)."""
        return self._device

    def load(self) -> None:
        """Build the architecture, load the checkpoint, warm the encoder up (blocking; once)."""
        if self.model is not None:
            return
        import torch

        prepare()
        from ultralytics.models.sam.build import build_mobile_sam

        self._device = torch_device(self._device, gpu_available=torch.cuda.is_available)
        self.dtype = _encoder_dtype(self._dtype_setting, self._device)
        model = build_mobile_sam(None)
        state = torch.load(str(self.weights), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        model.load_state_dict(state)
        model.to(self._device).eval()
        with self._lock, torch.inference_mode():
            self.model = model
            self._dense_pe = model.prompt_encoder.get_dense_pe()
            # The first pass allocates and picks kernels; pay for it at start-up, not on a click.
            self._encode(np.zeros((INPUT_SIZE * 3 // 4, INPUT_SIZE, 3), np.uint8))
        log.info("MobileSAM loaded from %s on %s (encoder in %s)", self.weights, self._device, self.dtype)

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """Run the image encoder once on an RGB picture; keep its embedding."""
        if self.model is None:
            raise RuntimeError("MobileSAM is not loaded")
        height, width = image.shape[:2]
        with self._lock:
            embedding, input_size = self._encode(image)
            self.encodings += 1
        return SamImage(width=width, height=height, embedding=embedding, input_size=input_size)

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        """Run the prompt decoder on the cached embedding and scale its best mask to full size."""
        assert isinstance(prepared, SamImage)
        import torch

        coords, labels, box = _sam_prompts(prepared, prompts)
        multimask = box is None and len(coords) == 1
        device = self._device
        with self._lock, torch.inference_mode():
            points = None
            if len(coords):
                points = (
                    torch.as_tensor(coords, dtype=torch.float32, device=device)[None],
                    torch.as_tensor(labels, dtype=torch.int64, device=device)[None],
                )
            boxes = None if box is None else torch.as_tensor(box, dtype=torch.float32, device=device)[None]
            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=None)
            masks, quality = self.model.mask_decoder(
                image_embeddings=prepared.embedding,
                image_pe=self._dense_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
            best = int(torch.argmax(quality[0]))
            logits = masks[0, best].float().cpu().numpy()
            score = float(quality[0, best])
        cancel.check()
        mask = _full_size(logits, prepared, coords[labels == 1] if len(coords) else coords)
        return Segment(mask=mask, score=min(1.0, max(0.0, score)))

    def _encode(self, image: np.ndarray) -> tuple[Any, tuple[int, int]]:
        """The embedding of an RGB picture and its size inside the input (under the lock)."""
        import torch

        height, width = image.shape[:2]
        scale = INPUT_SIZE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.float32)
        normalised = (resized - np.array(_PIXEL_MEAN, np.float32)) / np.array(_PIXEL_STD, np.float32)
        # SAM pads after normalising: the padding reads as mean grey to the encoder.
        padded = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        padded[: size[1], : size[0]] = normalised
        tensor = torch.from_numpy(padded).permute(2, 0, 1)[None].to(self._device)
        device_type = "cuda" if self._device.startswith("cuda") else "cpu"
        low = self.dtype == "bfloat16"
        with torch.inference_mode(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=low):
            embedding = self.model.image_encoder(tensor)
        # The decoder and the cache see float32 whatever the encoder computed in.
        return embedding.float(), size


def _encoder_dtype(setting: str, device: str) -> str:
    """``bfloat16`` or ``float32`` for the image encoder (``auto``: bfloat16 where the CPU has it)."""
    if setting != "auto":
        return setting
    if device.startswith("cuda"):
        return "float32"
    import torch

    # torch's own probes of the CPU (private, hence looked up defensively).
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return "bfloat16" if any(probe is not None and probe() for probe in probes) else "float32"


def _sam_prompts(prepared: SamImage, prompts: Prompts) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Points ``(N, 2)``, labels ``(N,)`` and a box ``(4,)`` or ``None``, in SAM's input coordinates."""
    scale_x = prepared.input_size[0] / prepared.width
    scale_y = prepared.input_size[1] / prepared.height
    scale = np.array([scale_x, scale_y], np.float32)
    coords = [prompts.points.astype(np.float32) * scale]
    labels = [prompts.labels.astype(np.int64)]
    box = prompts.box
    if prompts.stroke is not None:
        stroke_points, stroke_box = _stroke_prompts(prompts.stroke)
        coords.append(stroke_points.astype(np.float32) * scale)
        labels.append(np.ones(len(stroke_points), np.int64))
        if box is None:
            box = stroke_box
    all_coords = np.concatenate(coords) if coords else np.zeros((0, 2), np.float32)
    all_labels = np.concatenate(labels) if labels else np.zeros((0,), np.int64)
    if box is None and prompts.auto and not len(all_coords):
        inset_x, inset_y = round(prepared.width * _AUTO_INSET), round(prepared.height * _AUTO_INSET)
        box = (inset_x, inset_y, prepared.width - inset_x, prepared.height - inset_y)
    sam_box = None
    if box is not None:
        x0, y0, x1, y1 = box
        # SAM's box corners are pixel positions; the prompt's max edges are exclusive.
        sam_box = np.array([x0 * scale_x, y0 * scale_y, (x1 - 1) * scale_x, (y1 - 1) * scale_y], np.float32)
    return all_coords, all_labels, sam_box


def _stroke_prompts(stroke: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Points along a brush stroke's middle (pixels deepest inside it, spread along it) and its box."""
    rows = np.flatnonzero(stroke.any(axis=1))
    cols = np.flatnonzero(stroke.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    x0, y0, x1, y1 = box
    local = stroke[y0:y1, x0:x1].astype(np.uint8)
    distance = cv2.distanceTransform(np.pad(local, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ys, xs = np.nonzero(distance >= max(1.0, 0.5 * float(distance.max())))
    # Spread the points along the stroke's longer extent.
    order = np.argsort(xs if (x1 - x0) >= (y1 - y0) else ys, kind="stable")
    picks = order[np.linspace(0, len(order) - 1, min(_STROKE_POINTS, len(order))).round().astype(int)]
    points = np.stack([xs[picks] + x0, ys[picks] + y0], axis=1)
    return points, box


def drop_specks(content: np.ndarray, keep_points: np.ndarray) -> np.ndarray:
    """``content`` (a ``uint8`` mask, >128 inside; here SAM's coded logits at input resolution)
    without the parts smaller than 0.1 % of it, except those an include point ``(x, y)`` lies on
    (or the largest, if all are small)."""
    inside = (content > 128).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inside, connectivity=8)
    if count <= 2:
        return content
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = areas >= _MIN_PART * content.size
    height, width = content.shape
    for x, y in keep_points:
        keep[labels[min(height - 1, int(y)), min(width - 1, int(x))]] = True
    keep[0] = False
    if not keep.any():
        keep[int(np.argmax(areas[1:])) + 1] = True
    if keep[1:].all():
        return content
    return np.where(keep[labels], content, np.uint8(0))


def _full_size(logits: np.ndarray, prepared: SamImage, keep_points: np.ndarray) -> np.ndarray:
    """SAM's ``(256, 256)`` logits of the padded input as a ``uint8`` mask of the picture's size."""
    coded = np.clip(np.rint(128.0 + logits * _LOGIT_GAIN), 0, 255).astype(np.uint8)
    upscaled = np.asarray(cv2.resize(coded, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR))
    content = drop_specks(upscaled[: prepared.input_size[1], : prepared.input_size[0]], keep_points)
    # Area averaging when shrinking: point sampling would cut thin parts into slivers.
    shrinking = prepared.width < content.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    full = cv2.resize(content, (prepared.width, prepared.height), interpolation=interpolation)
    return np.asarray(cv2.threshold(full, 128, 255, cv2.THRESH_BINARY)[1], dtype=np.uint8)
