"""Candidate masks the way YOLO-seg (and so FastSAM) represents them: coefficients over prototypes.

The network outputs ``C`` prototype maps at a quarter of its input resolution and, per candidate,
``C`` coefficients and a box. A candidate's mask is ``coefficients @ prototypes > 0`` inside its
box. Keeping that form, instead of every mask at full size, costs a few megabytes per picture and
lets a click be answered exactly: a point is tested by sampling the prototypes at that point, and
only the chosen masks are ever evaluated at the picture's full resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ProtoMasks"]


@dataclass(frozen=True, eq=False)
class ProtoMasks:
    """Prototype masks of one picture and each candidate's coefficients and box."""

    #: ``(C, ph, pw)`` prototype maps.
    protos: np.ndarray
    #: ``(N, C)`` coefficients of each candidate.
    coeffs: np.ndarray
    #: ``(N, 4)`` boxes ``x0, y0, x1, y1`` in picture pixels.
    boxes: np.ndarray
    #: Where the picture lies on the prototype grid: ``x0, y0, x1, y1`` (the rest is letterbox padding).
    region: tuple[float, float, float, float]
    width: int
    height: int

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return int(self.protos.nbytes + self.coeffs.nbytes + self.boxes.nbytes)

    def _to_grid(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Picture pixel centres to (continuous) prototype grid coordinates."""
        x0, y0, x1, y1 = self.region
        gx = x0 + (xs + 0.5) * (x1 - x0) / self.width - 0.5
        gy = y0 + (ys + 0.5) * (y1 - y0) / self.height - 0.5
        return gx, gy

    def inside_boxes(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """``(N, P)``: which candidates' boxes hold each pixel."""
        b = self.boxes
        return np.asarray(
            (xs[None, :] >= np.floor(b[:, 0:1]))
            & (xs[None, :] < np.ceil(b[:, 2:3]))
            & (ys[None, :] >= np.floor(b[:, 1:2]))
            & (ys[None, :] < np.ceil(b[:, 3:4]))
        )

    def hits(self, points: np.ndarray) -> np.ndarray:
        """``(N, P)``: which candidates contain each picture pixel ``(x, y)``, evaluated exactly there."""
        count = self.coeffs.shape[0]
        if points.size == 0:
            return np.zeros((count, 0), dtype=bool)
        xs, ys = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
        gx, gy = self._to_grid(xs, ys)
        _, height, width = self.protos.shape
        gx, gy = np.clip(gx, 0, width - 1), np.clip(gy, 0, height - 1)
        left, top = (
            np.minimum(np.floor(gx).astype(np.int64), width - 2),
            np.minimum(np.floor(gy).astype(np.int64), height - 2),
        )
        left, top = np.maximum(left, 0), np.maximum(top, 0)
        fx, fy = gx - left, gy - top
        right, bottom = np.minimum(left + 1, width - 1), np.minimum(top + 1, height - 1)
        p = self.protos
        # Bilinear samples of every prototype at every point: (C, P).
        samples = (
            p[:, top, left] * ((1 - fx) * (1 - fy))
            + p[:, top, right] * (fx * (1 - fy))
            + p[:, bottom, left] * ((1 - fx) * fy)
            + p[:, bottom, right] * (fx * fy)
        )
        logits = self.coeffs @ samples
        return np.asarray((logits > 0) & self.inside_boxes(xs, ys))

    def render(self, indices: Sequence[int]) -> np.ndarray:
        """The union of candidates ``indices`` at the picture's size (boolean ``(height, width)``)."""
        union = np.zeros((self.height, self.width), dtype=bool)
        if not indices:
            return union
        _, grid_height, grid_width = self.protos.shape
        flat = self.protos.reshape(self.protos.shape[0], -1)
        x0, y0, x1, y1 = self.region
        sx, sy = (x1 - x0) / self.width, (y1 - y0) / self.height
        # Output pixel (u, v) samples the grid at (x0 + (u + 0.5) * sx - 0.5, ...): bilinear, like ultralytics' retina masks.
        to_grid = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]], dtype=np.float64)
        for index in indices:
            bx0, by0, bx1, by1 = self.boxes[index]
            left, top = max(0, int(np.floor(bx0))), max(0, int(np.floor(by0)))
            right, bottom = min(self.width, int(np.ceil(bx1))), min(self.height, int(np.ceil(by1)))
            if right <= left or bottom <= top:
                continue
            logits = (self.coeffs[index] @ flat).reshape(grid_height, grid_width).astype(np.float32)
            # Only the box is rendered: shift the map so the window starts at the box's corner.
            window = to_grid.copy()
            window[:, 2] += window[:, :2] @ np.array([left, top], dtype=np.float64)
            sampled = cv2.warpAffine(
                logits,
                window,
                (right - left, bottom - top),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            union[top:bottom, left:right] |= sampled > 0
        return union
