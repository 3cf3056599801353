"""FastSAM (ultralytics) from a local weights file: the production engine (T4 on Modal).

The network runs once per picture, in "everything" mode at its own input size. Its candidates
are kept the way the network produces them (prototype maps, and per candidate its coefficients,
box and confidence; see :class:`~retouch.segmentation.protomasks.ProtoMasks`) plus a
low-resolution bitmap of each, in :class:`~retouch.segmentation.candidates.Candidates`; no
candidate is ever computed at full size. Every click then chooses among them
(:func:`~retouch.segmentation.candidates.select`) and only the chosen masks are rendered at the
picture's resolution.

torch and ultralytics are imported here only, when the model loads. ultralytics predictors are
not thread-safe, so one lock serialises every call into the model.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from retouch.runtime.cancel import CancelToken
from retouch.runtime.devices import torch_device
from retouch.runtime.settings import SettingsError, env_name
from retouch.segmentation.candidates import Candidates, select
from retouch.segmentation.engines import PreparedImage, Segment
from retouch.segmentation.engines.ultralytics_import import prepare
from retouch.segmentation.prompts import Prompts
from retouch.segmentation.protomasks import ProtoMasks
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
        """Where the network runs (``cuda`` when a GPU is present and the device is ``auto``)."""
        return self._device

    def load(self) -> None:
        """Load the weights onto the device and warm the predictor up (blocking; once per engine)."""
        if self.model is not None:
            return
        import torch

        prepare()
        from ultralytics.models.fastsam import FastSAM

        self._device = torch_device(self._device, gpu_available=torch.cuda.is_available)
        with self._lock:
            self._predictor = _candidate_predictor()
            self.model = FastSAM(str(self.weights))
            # The first call builds ultralytics' predictor (fuses layers, warms up); pay for it now.
            size = self._settings.fastsam_imgsz
            self._predict(np.zeros((max(32, size * 3 // 4), size, 3), np.uint8))
        log.info("FastSAM loaded from %s on %s", self.weights, self._device)

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """Run the network once on an RGB picture and keep every candidate it found."""
        if self.model is None:
            raise RuntimeError("FastSAM is not loaded")
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # ultralytics takes numpy pictures as BGR, like OpenCV
        height, width = image.shape[:2]
        with self._lock:
            pred, proto, net_shape = self._predict(bgr)
            self.passes += 1
        return _candidates(pred, proto, net_shape, width, height)

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        """Choose among the picture's candidates and render only the chosen ones at full size."""
        assert isinstance(prepared, Candidates)
        selection = select(prepared, prompts)
        cancel.check()
        if selection is None:
            return Segment(mask=np.zeros((prepared.height, prepared.width), np.uint8), score=0.0)
        return Segment(mask=selection.render(prepared), score=selection.score)

    def _predict(self, bgr: np.ndarray) -> tuple[Any, Any, tuple[int, int]]:
        """The network's raw candidates for one picture: ``(pred, proto, input_shape)`` (under the lock)."""
        settings = self._settings
        options: dict[str, Any] = {}
        if self._device.startswith("cuda"):
            options.update(_fp16_option())  # FP16 on the GPU (only named there)
        self.model.predict(
            bgr,
            predictor=self._predictor,
            device=self._device,
            retina_masks=False,
            imgsz=settings.fastsam_imgsz,
            conf=settings.fastsam_conf,
            iou=settings.fastsam_iou,
            max_det=settings.fastsam_max_det,
            verbose=False,
            **options,
        )
        raw: tuple[Any, Any, tuple[int, int]] = self.model.predictor.raw
        return raw


def _fp16_option() -> dict[str, Any]:
    """ultralytics' FP16 flag: ``quantize=16`` where it exists (8.4.1xx; ``half`` there logs a
    deprecation warning on every call), ``half=True`` before."""
    prepare()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def _candidate_predictor() -> type:
    """ultralytics' FastSAM predictor, keeping each candidate's coefficients and the prototypes
    instead of computing every candidate's mask at full size (most of its post-processing time)."""
    prepare()
    from ultralytics import __version__ as ultralytics_version
    from ultralytics.engine.results import Results
    from ultralytics.models.fastsam import FastSAMPredictor
    from ultralytics.utils import ops

    if not hasattr(FastSAMPredictor, "construct_result"):
        raise RuntimeError(
            f"ultralytics {ultralytics_version} is too old for the fastsam engine: install ultralytics>=8.4"
        )

    class CandidatePredictor(FastSAMPredictor):  # type: ignore[misc]
        raw: tuple[Any, Any, tuple[int, int]]

        # The segmentation predictor's signature (it adds ``proto`` to the detection predictor's).
        def construct_result(self, pred: Any, img: Any, orig_img: Any, img_path: Any, proto: Any) -> Any:  # type: ignore[override]
            self.raw = (pred.detach().clone(), proto.detach(), (int(img.shape[2]), int(img.shape[3])))
            boxes = pred[:, :6].clone()
            boxes[:, :4] = ops.scale_boxes(img.shape[2:], boxes[:, :4], orig_img.shape)
            return Results(orig_img, path=img_path, names=getattr(self.model, "names", {0: "object"}), boxes=boxes)

    return CandidatePredictor


def _candidates(pred: Any, proto: Any, net_shape: tuple[int, int], width: int, height: int) -> Candidates:
    """Candidates from the network's raw output on a letterboxed ``net_shape`` input."""
    import torch

    count = int(pred.shape[0])
    channels, grid_height, grid_width = (int(v) for v in proto.shape)
    net_height, net_width = net_shape
    # Where the picture lies in the letterboxed input (ultralytics' LetterBox(center=True) rounding).
    gain = min(net_height / height, net_width / width)
    content_width, content_height = max(1, round(width * gain)), max(1, round(height * gain))
    left = round((net_width - content_width) / 2 - 0.1)
    top = round((net_height - content_height) / 2 - 0.1)
    to_grid_x, to_grid_y = grid_width / net_width, grid_height / net_height
    region = (
        left * to_grid_x,
        top * to_grid_y,
        (left + content_width) * to_grid_x,
        (top + content_height) * to_grid_y,
    )
    pred = pred.float()
    boxes_net = pred[:, :4]
    offset = torch.tensor([left, top, left, top], dtype=boxes_net.dtype, device=boxes_net.device)
    limit = torch.tensor([width, height, width, height], dtype=boxes_net.dtype, device=boxes_net.device)
    boxes = torch.minimum(((boxes_net - offset) / gain).clamp(min=0), limit)
    protos = proto.float()
    coeffs = pred[:, 6 : 6 + channels]
    # Each candidate at the prototypes' resolution, inside its box: for areas, overlaps and auto-detect.
    logits = (coeffs @ protos.reshape(channels, -1)).reshape(count, grid_height, grid_width)
    grid_boxes = boxes_net * torch.tensor([to_grid_x, to_grid_y, to_grid_x, to_grid_y], device=boxes_net.device)
    cols = torch.arange(grid_width, device=logits.device, dtype=torch.float32)[None, None, :]
    rows = torch.arange(grid_height, device=logits.device, dtype=torch.float32)[None, :, None]
    x0, y0, x1, y1 = (grid_boxes[:, i, None, None] for i in range(4))
    inside = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
    low = (logits > 0) & inside
    r0, r1 = round(region[1]), max(round(region[1]) + 1, round(region[3]))
    c0, c1 = round(region[0]), max(round(region[0]) + 1, round(region[2]))
    masks = low[:, r0:r1, c0:c1].cpu().numpy()
    proto_masks = ProtoMasks(
        protos=protos.cpu().numpy(),
        coeffs=coeffs.cpu().numpy(),
        boxes=boxes.cpu().numpy(),
        region=region,
        width=width,
        height=height,
    )
    scores = pred[:, 4].cpu().numpy()
    return Candidates.from_masks(masks, scores, width, height, protos=proto_masks)
