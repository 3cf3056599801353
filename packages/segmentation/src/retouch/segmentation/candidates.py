"""Candidate masks of one picture (FastSAM's "everything" pass) and the choice among them per prompt.

The network runs once per picture; what it found is kept here: each mask at low resolution, one bit
a pixel (for areas and overlaps), and optionally in the network's own form
(:class:`~retouch.segmentation.protomasks.ProtoMasks`: exact at any pixel). Each click then only
picks masks:

- an include point picks the most confident mask containing it (preferring masks that contain no
  exclude point; with a box, the one that fits the box best);
- a box alone picks the mask with the highest IoU with the box, and clips the result to it;
- a brush stroke picks the masks most painted over, while they raise the IoU of their union with it;
- an exclude point removes the most confident mask under it that contains no include point;
- ``auto_detect`` prefers a confident, central mask of moderate size.

Only the chosen masks are rendered at the picture's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retouch.segmentation.prompts import Prompts
from retouch.segmentation.protomasks import ProtoMasks

__all__ = ["Candidates", "Selection", "select"]

# Bits set in each byte value, for counting pixels of packed masks.
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)
# auto_detect ignores masks covering less or more than these fractions of the picture.
_AUTO_MIN_AREA, _AUTO_MAX_AREA = 0.01, 0.85
# A brush stroke may pick at most this many masks.
_MAX_STROKE_MASKS = 8


@dataclass(frozen=True, eq=False)
class Candidates:
    """Masks found on one picture: packed bits ``(N, mask_height, ceil(mask_width / 8))``."""

    width: int
    height: int
    mask_width: int
    mask_height: int
    packed: np.ndarray
    #: ``(N,)`` pixels of each mask (at mask resolution).
    areas: np.ndarray
    #: ``(N,)`` confidences.
    scores: np.ndarray
    #: ``(N, 4)`` bounding boxes ``x0, y0, x1, y1`` (mask coordinates, max edges exclusive).
    boxes: np.ndarray
    #: The masks in the network's own form, when it has one: clicks are tested and masks rendered exactly.
    protos: ProtoMasks | None = None

    @classmethod
    def from_masks(
        cls, masks: np.ndarray, scores: np.ndarray, width: int, height: int, protos: ProtoMasks | None = None
    ) -> Candidates:
        """Pack boolean ``(N, h, w)`` masks of a ``width`` x ``height`` picture."""
        masks = masks.astype(bool, copy=False)
        count, mask_height, mask_width = masks.shape
        packed = np.packbits(masks, axis=-1) if count else np.zeros((0, mask_height, (mask_width + 7) // 8), np.uint8)
        areas = masks.sum(axis=(1, 2)).astype(np.int64)
        boxes = np.zeros((count, 4), np.int64)
        rows, cols = np.asarray(masks.any(axis=2)), np.asarray(masks.any(axis=1))
        for i in np.flatnonzero(areas):
            ys, xs = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
        return cls(
            width=width,
            height=height,
            mask_width=mask_width,
            mask_height=mask_height,
            packed=packed,
            areas=areas,
            scores=np.asarray(scores, dtype=np.float32).reshape(count),
            boxes=boxes,
            protos=protos,
        )

    def __len__(self) -> int:
        return int(self.packed.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held (for the cache's budget)."""
        extra = self.protos.nbytes if self.protos is not None else 0
        return int(self.packed.nbytes + self.areas.nbytes + self.scores.nbytes + self.boxes.nbytes + extra)

    def to_mask_xy(self, points: np.ndarray) -> np.ndarray:
        """Picture pixel coordinates ``(P, 2)`` at mask resolution."""
        if points.size == 0:
            return np.zeros((0, 2), np.int64)
        xs = np.minimum(self.mask_width - 1, (points[:, 0] * self.mask_width) // self.width)
        ys = np.minimum(self.mask_height - 1, (points[:, 1] * self.mask_height) // self.height)
        return np.stack([xs, ys], axis=1).astype(np.int64)

    def hits(self, points: np.ndarray) -> np.ndarray:
        """``(N, P)``: which masks contain each picture point."""
        if self.protos is not None:
            return self.protos.hits(points)
        xy = self.to_mask_xy(points)
        if xy.shape[0] == 0:
            return np.zeros((len(self), 0), dtype=bool)
        byte = self.packed[:, xy[:, 1], xy[:, 0] // 8]
        return ((byte >> (7 - (xy[:, 0] % 8)).astype(np.uint8)) & 1).astype(bool)

    def region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``(N, y1 - y0, x1 - x0)`` boolean crop of every mask (mask coordinates)."""
        crop = np.unpackbits(self.packed[:, y0:y1, x0 // 8 : (x1 + 7) // 8], axis=-1)
        start = x0 - (x0 // 8) * 8
        return crop[:, :, start : start + (x1 - x0)].astype(bool)

    def mask(self, index: int) -> np.ndarray:
        """One mask, boolean ``(mask_height, mask_width)``."""
        return np.unpackbits(self.packed[index], axis=-1, count=self.mask_width).astype(bool)

    def to_mask_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A picture box in mask coordinates (at least one mask pixel wide and high)."""
        x0 = min(self.mask_width - 1, box[0] * self.mask_width // self.width)
        y0 = min(self.mask_height - 1, box[1] * self.mask_height // self.height)
        x1 = max(x0 + 1, -(-box[2] * self.mask_width // self.width))
        y1 = max(y0 + 1, -(-box[3] * self.mask_height // self.height))
        return x0, y0, min(x1, self.mask_width), min(y1, self.mask_height)

    def box_iou(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """``(N,)`` IoU of each mask with a picture box."""
        x0, y0, x1, y1 = self.to_mask_box(box)
        inside = self.region(x0, y0, x1, y1).sum(axis=(1, 2))
        union = (x1 - x0) * (y1 - y0) + self.areas - inside
        return np.where(union > 0, inside / np.maximum(union, 1), 0.0)

    def overlap(self, stroke: np.ndarray) -> np.ndarray:
        """``(N,)`` pixels each mask shares with a boolean mask-resolution ``stroke``."""
        packed = np.packbits(stroke, axis=-1)
        rows = np.flatnonzero(packed.any(axis=1))
        cols = np.flatnonzero(packed.any(axis=0))
        if rows.size == 0:
            return np.zeros(len(self), np.int64)
        window = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        shared = self.packed[window] & packed[window[1:]]
        counts: np.ndarray = _POPCOUNT[shared].sum(axis=(1, 2)).astype(np.int64)
        return counts


@dataclass(frozen=True, eq=False)
class Selection:
    """What a prompt chose: masks to take, masks to take away, a box to clip to; the result at mask
    resolution, and the chosen masks' area-weighted confidence."""

    chosen: list[int]
    excluded: list[int]
    clip: tuple[int, int, int, int] | None
    mask: np.ndarray
    score: float

    def render(self, candidates: Candidates) -> np.ndarray:
        """The result as a ``uint8`` mask (255 inside) of the picture's size."""
        width, height = candidates.width, candidates.height
        if candidates.protos is not None:
            full = candidates.protos.render(self.chosen) & ~candidates.protos.render(self.excluded)
            if self.clip is not None:
                x0, y0, x1, y1 = self.clip
                clipped = np.zeros_like(full)
                clipped[y0:y1, x0:x1] = full[y0:y1, x0:x1]
                full = clipped
            return np.where(full, 255, 0).astype(np.uint8)
        small = np.where(self.mask, 255, 0).astype(np.uint8)
        if small.shape == (height, width):
            return small
        large = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.where(large > 127, 255, 0).astype(np.uint8)


def select(candidates: Candidates, prompts: Prompts) -> Selection | None:
    """The masks ``prompts`` point at, or ``None`` when they point at nothing."""
    if len(candidates) == 0:
        return None
    positive, negative = prompts.positive, prompts.negative
    pos_hits = candidates.hits(positive)
    neg_hits = candidates.hits(negative)
    box_iou = candidates.box_iou(prompts.box) if prompts.box is not None else None
    stroke = _stroke_at(candidates, prompts.stroke) if prompts.stroke is not None else None
    # Preference among the masks that contain a click: the box's fit, else the confidence.
    preference = box_iou if box_iou is not None else candidates.scores.astype(np.float64)

    chosen: set[int] = set()
    for j in range(pos_hits.shape[1]):
        pool = pos_hits[:, j].copy()
        if box_iou is not None:
            pool &= box_iou > 0
        clean = pool & ~neg_hits.any(axis=1)
        pool = clean if clean.any() else pool
        if pool.any():
            chosen.add(_best(pool, preference, candidates.areas))
    if stroke is not None:
        chosen |= _cover_stroke(candidates, stroke, np.asarray(~neg_hits.any(axis=1)))
    if box_iou is not None and not positive.size and box_iou.max() > 0:
        chosen.add(int(np.argmax(box_iou)))
    if prompts.auto and not chosen and box_iou is None:
        chosen.add(_auto(candidates))
    if not chosen:
        return None

    indices = sorted(chosen)
    union = np.zeros((candidates.mask_height, candidates.mask_width), dtype=bool)
    for i in indices:
        union |= candidates.mask(i)
    excludable = neg_hits & ~pos_hits.any(axis=1, keepdims=True)
    excluded = sorted(
        {
            _best(excludable[:, q], candidates.scores.astype(np.float64), candidates.areas)
            for q in range(excludable.shape[1])
            if excludable[:, q].any()
        }
    )
    for i in excluded:
        union &= ~candidates.mask(i)
    if prompts.box is not None:
        x0, y0, x1, y1 = candidates.to_mask_box(prompts.box)
        clipped = np.zeros_like(union)
        clipped[y0:y1, x0:x1] = union[y0:y1, x0:x1]
        union = clipped
    weights = candidates.areas[indices].astype(np.float64)
    score = float(np.average(candidates.scores[indices], weights=weights)) if weights.sum() else 0.0
    return Selection(chosen=indices, excluded=excluded, clip=prompts.box, mask=union, score=score)


def _best(pool: np.ndarray, preference: np.ndarray, areas: np.ndarray) -> int:
    """The index in ``pool`` with the highest preference; ties go to the smaller mask."""
    indices = np.flatnonzero(pool)
    order = np.lexsort((areas[indices], -preference[indices]))
    return int(indices[order[0]])


def _stroke_at(candidates: Candidates, stroke: np.ndarray) -> np.ndarray:
    """The stroke at mask resolution (area sampling keeps thin lines)."""
    if stroke.shape == (candidates.mask_height, candidates.mask_width):
        return stroke
    small = cv2.resize(
        stroke.astype(np.float32), (candidates.mask_width, candidates.mask_height), interpolation=cv2.INTER_AREA
    )
    return small > 0.0


def _cover_stroke(candidates: Candidates, stroke: np.ndarray, allowed: np.ndarray) -> set[int]:
    """Masks that together fit the stroke: tried from the most painted-over (the largest share of the
    mask under the stroke) down, each kept only if it raises the IoU of the union with the stroke."""
    stroke_area = int(np.count_nonzero(stroke))
    if stroke_area == 0:
        return set()
    shared = candidates.overlap(stroke)
    precision = shared / np.maximum(candidates.areas, 1)
    order = [int(i) for i in np.lexsort((-candidates.areas, -precision)) if shared[i] > 0 and allowed[i]]
    chosen: set[int] = set()
    union = np.zeros_like(stroke)
    union_area = covered = 0
    best_iou = 0.0
    for index in order:
        mask = candidates.mask(index)
        new_area = union_area + int(np.count_nonzero(mask & ~union))
        new_covered = covered + int(np.count_nonzero(mask & stroke & ~union))
        iou = new_covered / (new_area + stroke_area - new_covered)
        if iou > best_iou:
            chosen.add(index)
            union |= mask
            union_area, covered, best_iou = new_area, new_covered, iou
            if len(chosen) == _MAX_STROKE_MASKS:
                break
    return chosen


def _auto(candidates: Candidates) -> int:
    """The picture's main object: confident, central, neither tiny nor the whole picture."""
    total = candidates.mask_width * candidates.mask_height
    fraction = candidates.areas / total
    usable = (fraction >= _AUTO_MIN_AREA) & (fraction <= _AUTO_MAX_AREA)
    if not usable.any():
        return int(np.argmax(candidates.scores))
    cx, cy = candidates.mask_width / 2, candidates.mask_height / 2
    centres_x = (candidates.boxes[:, 0] + candidates.boxes[:, 2]) / 2
    centres_y = (candidates.boxes[:, 1] + candidates.boxes[:, 3]) / 2
    centrality = 1.0 - np.hypot(centres_x - cx, centres_y - cy) / (float(np.hypot(cx, cy)) or 1.0)
    rank = np.where(usable, candidates.scores * centrality * np.sqrt(fraction), -1.0)
    return int(np.argmax(rank))
