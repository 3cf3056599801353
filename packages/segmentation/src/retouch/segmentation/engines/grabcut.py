"""GrabCut (OpenCV) seeded from the prompts: no weights, CPU, the local default.

How each prompt seeds GrabCut's label map:

- a box: outside it is sure background, inside probable foreground (GrabCut's classic start);
- ``auto_detect``: the same with a box inset from the picture's edges;
- include points: small sure-foreground disks, with probable foreground around them;
- exclude points: sure-background disks (larger, so the excluded colour is learnt);
- a brush stroke: its inner core (by distance from its edge) sure foreground, the stroke itself
  probable foreground, so its whole shape counts and not just one centroid.

Without a box, the picture's outer frame is sure background unless a prompt touches it. The
per-picture part (decoding and the working-size copy) is cached by the service.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retouch.runtime.cancel import CancelToken
from retouch.segmentation.engines import PreparedImage, Segment
from retouch.segmentation.prompts import Prompts
from retouch.segmentation.settings import SegmentationSettings

__all__ = ["GrabCutEngine", "GrabCutImage"]

# Fraction of the picture's shorter side: sure disks around clicks, the probable region around
# them, the sure-background frame, and the inset of the auto-detect box.
_SURE_RADIUS = 0.012
# Exclude clicks get a larger sure disk: GrabCut's background colour model must learn the excluded
# object's colour from it, or a similar touching object stays in the mask.
_EXCLUDE_RADIUS = 0.035
_PROBABLE_RADIUS = 0.12
_FRAME = 0.01
_AUTO_INSET = 0.06
# Components of the result smaller than this fraction of the largest are dropped (box / auto).
_MIN_PART = 0.05


@dataclass(frozen=True, eq=False)
class GrabCutImage:
    """A picture ready for GrabCut: BGR at working size, and the factor back to full size."""

    width: int
    height: int
    work: np.ndarray
    scale: float

    @property
    def nbytes(self) -> int:
        """Memory held by the working copy."""
        return int(self.work.nbytes)


class GrabCutEngine:
    """The :class:`~retouch.segmentation.engines.Engine` built on :func:`cv2.grabCut`."""

    name = "grabcut"

    def __init__(self, settings: SegmentationSettings) -> None:
        self._max_side = settings.grabcut_max_side
        self._iterations = settings.grabcut_iterations

    @property
    def aliases(self) -> frozenset[str]:
        """``model_type`` values that select this engine."""
        return frozenset({"grabcut"})

    @property
    def device(self) -> str:
        """GrabCut runs on the CPU."""
        return "cpu"

    def load(self) -> None:
        """Nothing to load."""

    def prepare(self, image: np.ndarray) -> GrabCutImage:
        """The working-size BGR copy of an RGB picture."""
        height, width = image.shape[:2]
        scale = min(1.0, self._max_side / max(height, width))
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        return GrabCutImage(width=width, height=height, work=np.ascontiguousarray(bgr), scale=scale)

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        """Run GrabCut from the prompts' seeds and scale the result to the picture's size."""
        assert isinstance(prepared, GrabCutImage)
        work = prepared.work
        labels = _seed(work.shape[0], work.shape[1], prepared.scale, prompts)
        if not _has_both(labels):
            # All seeds agree (e.g. a box over the whole picture): let its frame be probable background.
            labels[[0, -1], :] = np.where(labels[[0, -1], :] == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_PR_BGD)
            labels[:, [0, -1]] = np.where(labels[:, [0, -1]] == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_PR_BGD)
        bgd_model = np.zeros((1, 65), np.float64)
        fgd_model = np.zeros((1, 65), np.float64)
        previous = _foreground(labels)
        score = 0.0
        # GrabCut needs pixels of both kinds to learn from (a tiny picture may offer only one): the seeds stand.
        iterations = self._iterations if _has_both(labels) else 0
        for i in range(iterations):
            cancel.check()
            mode = cv2.GC_INIT_WITH_MASK if i == 0 else cv2.GC_EVAL
            # The rectangle is unused: the label map seeds every mode used here.
            cv2.grabCut(work, labels, (0, 0, 1, 1), bgd_model, fgd_model, 1, mode)
            current = _foreground(labels)
            # How settled the cut is: the overlap of the last two iterations' foregrounds.
            union = np.count_nonzero(current | previous)
            score = np.count_nonzero(current & previous) / union if union else 0.0
            previous = current
        cancel.check()
        small = _keep_prompted_parts(previous, prepared.scale, prompts)
        mask = np.where(small, 255, 0).astype(np.uint8)
        if mask.shape != (prepared.height, prepared.width):
            large = np.asarray(cv2.resize(mask, (prepared.width, prepared.height), interpolation=cv2.INTER_LINEAR))
            mask = np.where(large > 127, 255, 0).astype(np.uint8)
        return Segment(mask=mask, score=float(score))


def _foreground(labels: np.ndarray) -> np.ndarray:
    return np.asarray((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD))


def _has_both(labels: np.ndarray) -> bool:
    fg = _foreground(labels)
    return bool(fg.any() and not fg.all())


def _seed(height: int, width: int, scale: float, prompts: Prompts) -> np.ndarray:
    """GrabCut's initial label map at working size."""
    short = min(height, width)
    sure = max(2, round(short * _SURE_RADIUS))
    exclude = max(sure, round(short * _EXCLUDE_RADIUS))
    probable = max(sure + 1, round(short * _PROBABLE_RADIUS))
    positive = _scaled(prompts.positive, scale, width, height)
    negative = _scaled(prompts.negative, scale, width, height)
    stroke = _scaled_stroke(prompts.stroke, width, height)
    box = prompts.box
    if box is None and prompts.auto:
        inset_x, inset_y = round(prompts.width * _AUTO_INSET), round(prompts.height * _AUTO_INSET)
        box = (inset_x, inset_y, prompts.width - inset_x, prompts.height - inset_y)
    # Clicks or a stroke say where the object is; a box alone only says where it may be.
    guided = bool(positive) or stroke is not None
    if box is not None:
        labels = np.full((height, width), cv2.GC_BGD, np.uint8)
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        labels[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = cv2.GC_PR_BGD if guided else cv2.GC_PR_FGD
    else:
        labels = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
        frame = max(1, round(short * _FRAME))
        labels[:frame, :] = labels[-frame:, :] = cv2.GC_BGD
        labels[:, :frame] = labels[:, -frame:] = cv2.GC_BGD
    allowed = labels != cv2.GC_BGD
    # Around an include click the object probably continues; around an exclude click (in a box
    # that is otherwise probable foreground) the background does.
    around = np.zeros_like(labels)
    for x, y in positive:
        cv2.circle(around, (x, y), probable, 1, thickness=-1)
    labels[(around == 1) & allowed] = cv2.GC_PR_FGD
    if not guided:
        around[:] = 0
        for x, y in negative:
            cv2.circle(around, (x, y), probable, 1, thickness=-1)
        labels[(around == 1) & allowed] = cv2.GC_PR_BGD
    if stroke is not None:
        labels[stroke & allowed] = cv2.GC_PR_FGD
        labels[_stroke_core(stroke)] = cv2.GC_FGD
    for x, y in positive:
        cv2.circle(labels, (x, y), sure, cv2.GC_FGD, thickness=-1)
    for x, y in negative:
        cv2.circle(labels, (x, y), exclude, cv2.GC_BGD, thickness=-1)
    return labels


def _scaled(points: np.ndarray, scale: float, width: int, height: int) -> list[tuple[int, int]]:
    return [(min(width - 1, int(x * scale)), min(height - 1, int(y * scale))) for x, y in points]


def _scaled_stroke(stroke: np.ndarray | None, width: int, height: int) -> np.ndarray | None:
    if stroke is None:
        return None
    if stroke.shape == (height, width):
        return stroke
    # Area averaging keeps thin strokes that nearest-neighbour sampling would drop.
    small = cv2.resize(stroke.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return small > 0.0


def _stroke_core(stroke: np.ndarray) -> np.ndarray:
    """The stroke's middle: pixels at least half its largest thickness from its edge."""
    distance = cv2.distanceTransform(stroke.astype(np.uint8), cv2.DIST_L2, 3)
    return distance >= max(1.0, 0.5 * float(distance.max()))


def _keep_prompted_parts(foreground: np.ndarray, scale: float, prompts: Prompts) -> np.ndarray:
    """Drop stray parts: keep what an include point or the stroke touches, else the large parts."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    if count <= 2:
        return foreground
    height, width = foreground.shape
    keep = np.zeros(count, dtype=bool)
    for x, y in _scaled(prompts.positive, scale, width, height):
        keep[labels[y, x]] = True
    stroke = _scaled_stroke(prompts.stroke, width, height)
    if stroke is not None:
        keep[np.unique(labels[stroke])] = True
    keep[0] = False
    if not keep.any():
        areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        areas[0] = 0.0
        keep = areas >= _MIN_PART * areas.max()
    return np.asarray(keep[labels])
