"""Configuration of the segmentation service (``RETOUCH_*`` environment variables)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import ClassVar, Literal

from retouch.runtime.models import find_installed
from retouch.runtime.settings import ServiceSettings, SettingsError, env_name, env_names

__all__ = ["EngineName", "SegmentationSettings"]

EngineName = Literal["auto", "grabcut", "fastsam", "mobile_sam"]


class SegmentationSettings(ServiceSettings, kw_only=True):
    """Settings of the segmentation service; each field's variable is given by :func:`env_name`."""

    __env__: ClassVar[dict[str, str]] = env_names(
        "RETOUCH_SEGMENTATION_",
        ("engine", "device", "max_points", "cache_bytes", "hole_fraction", "feather_radius"),
    )

    #: Which engine makes the masks. ``auto``: the best one whose weights are installed in the
    #: models directory or configured (``mobile_sam``, then ``fastsam``), else ``grabcut``;
    #: resolved at start-up.
    engine: EngineName = "auto"
    #: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ...
    device: str = "auto"
    #: Most points one request may carry.
    max_points: int = 64
    #: Memory the per-image cache (decoded pictures, FastSAM candidates) may hold, in bytes.
    cache_bytes: int = 512 * 1024 * 1024
    #: Holes inside a mask smaller than this fraction of the picture are filled.
    hole_fraction: float = 0.001
    #: How far, in pixels, the soft edge ``use_blur`` gives reaches on each side of the boundary
    #: (a linear ramp twice as wide: the image-utils ``feather`` operation).
    feather_radius: float = 3.0

    #: FastSAM weights (a ``.pt`` file); unset: the ones installed in the models directory
    #: (``retouch-local models pull fastsam_s``).
    fastsam_weights: Path | None = None
    #: MobileSAM's checkpoint (``mobile_sam.pt``); unset: the one installed in the models
    #: directory (``retouch-local models pull mobile_sam``).
    mobile_sam_weights: Path | None = None
    #: The precision of MobileSAM's image encoder (the per-picture second); ``auto``: bfloat16 on
    #: a CPU with native bfloat16 (AVX512-BF16, AMX: about twice as fast), else float32. The
    #: prompt decoder always runs in float32.
    mobile_sam_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    #: The network's input size (longest side); the candidates' masks have this resolution.
    fastsam_imgsz: int = 1024
    #: Smallest confidence of a candidate mask.
    fastsam_conf: float = 0.4
    #: IoU above which overlapping candidates are merged by non-maximum suppression.
    fastsam_iou: float = 0.9
    #: Most candidates kept per picture.
    fastsam_max_det: int = 300

    #: GrabCut works on a copy whose longest side is at most this (the mask is scaled back up).
    grabcut_max_side: int = 640
    #: GrabCut iterations per request.
    grabcut_iterations: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        cls = type(self)
        # Installed models are picked up by themselves; configured files win over them.
        if self.fastsam_weights is None:
            self.fastsam_weights = _installed(self.models_dir, "fastsam")
        if self.mobile_sam_weights is None:
            self.mobile_sam_weights = _installed(self.models_dir, "mobile_sam")
        if self.engine == "auto":
            # The model engines need retouch-segmentation[fastsam] (torch, ultralytics) installed.
            libraries = all(importlib.util.find_spec(name) is not None for name in ("torch", "ultralytics"))
            if self.mobile_sam_weights is not None and libraries:
                self.engine = "mobile_sam"
            elif self.fastsam_weights is not None and libraries:
                self.engine = "fastsam"
            else:
                self.engine = "grabcut"
        self.require(
            positive=(
                "max_points",
                "cache_bytes",
                "fastsam_imgsz",
                "fastsam_max_det",
                "grabcut_max_side",
                "grabcut_iterations",
            ),
            fraction=("fastsam_conf", "fastsam_iou", "hole_fraction"),
            non_negative=("feather_radius",),
        )
        if self.engine == "fastsam" and self.fastsam_weights is None:
            raise SettingsError(
                f"{env_name(cls, 'fastsam_weights')} must name a weights file when {env_name(cls, 'engine')}=fastsam"
                " (or run `retouch-local models pull fastsam_s`)"
            )
        if self.engine == "mobile_sam" and self.mobile_sam_weights is None:
            raise SettingsError(
                f"{env_name(cls, 'mobile_sam_weights')} must name a checkpoint when {env_name(cls, 'engine')}=mobile_sam"
                " (or run `retouch-local models pull mobile_sam`)"
            )


def _installed(models_dir: Path | None, engine: str) -> Path | None:
    model = find_installed(models_dir, engine=engine)
    return model.path if model is not None else None
