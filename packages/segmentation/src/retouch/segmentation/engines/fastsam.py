"""FastSAM (ultralytics) from a local weights file: the production engine (T4 on Modal).

The network runs once per picture, in "everything" mode at its own input size
(``retina_masks=False``); the candidate masks it finds are cached as
:class:`~retouch.segmentation.candidates.Candidates` and every click only chooses among them
(:func:`~retouch.segmentation.candidates.select`). torch and ultralytics are imported here
only, when the model loads. ultralytics predictors are not thread-safe, so one lock serialises
every call into the model.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from retouch.runtime.settings import SettingsError, env_name
from retouch.segmentation.cancel import CancelToken
from retouch.segmentation.candidates import Candidates, select
from retouch.segmentation.engines import PreparedImage, Segment
from retouch.segmentation.prompts import Prompts
from retouch.segmentation.settings import SegmentationSettings

__all__ = ["FastSAMEngine"]

log = logging.getLogger("retouch.segmentation.fastsam")


class FastSAMEngine:
    """The :class:`~retouch.segmentation.engines.Engine` built on ``ultralytics.FastSAM``."""

    name = "fastsam"

    def __init__(self, settings: SegmentationSettings) -> None:
        weights = settings.fastsam_weights
        if weights is None or not Path(weights).is_file():
            var = env_name(SegmentationSettings, "fastsam_weights")
            raise SettingsError(f"{var}: FastSAM weights file not found: {weights}")
        self.weights = Path(weights)
        self._settings = settings
        self._device = settings.device
        self._lock = threading.Lock()
        #: The loaded ``ultralytics.FastSAM`` (``None`` until :meth:`load` ran).
        self.model: Any = None
        #: How many pictures went through the network (not counting the warm-up).
        self.passes = 0

    @property
    def aliases(self) -> frozenset[str]:
        """``model_type`` values that select this engine: ``fastsam`` and the weights' name."""
        return frozenset({"fastsam", self.weights.stem.lower()})

    @property
    def device(self) -> str:
        """Where the network runs (``cuda:0`` when a GPU is present and the device is ``auto``)."""
        return self._device

    def load(self) -> None:
        """Load the weights onto the device and warm the predictor up (blocking; once per engine)."""
        if self.model is not None:
            return
        import torch
        from ultralytics.models.fastsam import FastSAM

        if self._device == "auto":
            self._device = "cuda:0" if torch.cuda.is_available() else "cpu"
        with self._lock:
            self.model = FastSAM(str(self.weights))
            # The first call builds ultralytics' predictor (fuses layers, warms up); pay for it now.
            size = self._settings.fastsam_imgsz
            self._predict(np.zeros((max(32, size * 3 // 4), size, 3), np.uint8))
        log.info("FastSAM loaded from %s on %s", self.weights, self._device)

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """Run the network once on an RGB picture and keep every candidate mask it found."""
        if self.model is None:
            raise RuntimeError("FastSAM is not loaded")
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # ultralytics takes numpy pictures as BGR, like OpenCV
        height, width = image.shape[:2]
        with self._lock:
            result = self._predict(bgr)[0]
            self.passes += 1
        if result.masks is None or len(result) == 0:
            empty = np.zeros((0, 1, 1), dtype=bool)
            return Candidates.from_masks(empty, np.zeros(0, np.float32), width, height)
        masks = _content(result.masks.data, height, width)
        scores = result.boxes.conf.detach().float().cpu().numpy()
        return Candidates.from_masks(masks, scores, width, height)

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        """Choose among the picture's candidates and scale only the chosen union up."""
        assert isinstance(prepared, Candidates)
        selection = select(prepared, prompts)
        cancel.check()
        if selection is None:
            return Segment(mask=np.zeros((prepared.height, prepared.width), np.uint8), score=0.0)
        return Segment(mask=selection.upsample(prepared.width, prepared.height), score=selection.score)

    def _predict(self, bgr: np.ndarray) -> list[Any]:
        settings = self._settings
        options: dict[str, Any] = {}
        if self._device.startswith("cuda"):
            options["half"] = True  # FP16 on the GPU (only named there: newer ultralytics warns about the flag)
        results: list[Any] = self.model.predict(
            bgr,
            device=self._device,
            retina_masks=False,
            imgsz=settings.fastsam_imgsz,
            conf=settings.fastsam_conf,
            iou=settings.fastsam_iou,
            max_det=settings.fastsam_max_det,
            verbose=False,
            **options,
        )
        return results


def _content(masks: Any, height: int, width: int) -> np.ndarray:
    """The masks without the letterbox padding ultralytics added around the picture, as numpy."""
    net_height, net_width = int(masks.shape[1]), int(masks.shape[2])
    gain = min(net_height / height, net_width / width)
    content_height, content_width = max(1, round(height * gain)), max(1, round(width * gain))
    # The same rounding as ultralytics' LetterBox(center=True).
    top = round((net_height - content_height) / 2 - 0.1)
    left = round((net_width - content_width) / 2 - 0.1)
    crop = masks[:, top : top + content_height, left : left + content_width]
    return np.asarray(crop.detach().cpu().numpy() > 0.5)
