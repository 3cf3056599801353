"""What the caller pointed at, checked against the picture: points, a box, a brush stroke, auto-detect.

Checks that need no picture run first (:func:`check_request`), so a bad request is refused
before any decoding; the coordinates are checked once the picture's size is known
(:func:`build_prompts`). Nothing is clipped or wrapped: a coordinate outside the picture is a 422.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from retouch.runtime.images import ImageLimits, open_mask
from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk.models.segmentation import SmartMaskRequest

__all__ = ["Prompts", "build_prompts", "check_request", "decode_stroke", "nothing_found"]

# A stroke drawn on a scaled copy of the picture is scaled back if its aspect ratio matches this well.
_ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True, eq=False)
class Prompts:
    """The prompts of one request, in the picture's pixel coordinates."""

    width: int
    height: int
    #: ``(N, 2)`` integer pixel coordinates ``x, y`` of the clicks.
    points: np.ndarray
    #: ``(N,)`` labels, 1 include, 0 exclude.
    labels: np.ndarray
    #: ``(x0, y0, x1, y1)`` pixel edges, the max edges exclusive.
    box: tuple[int, int, int, int] | None = None
    #: ``(height, width)`` boolean brush stroke.
    stroke: np.ndarray | None = None
    auto: bool = False

    @property
    def positive(self) -> np.ndarray:
        """The include points, ``(P, 2)``."""
        chosen: np.ndarray = self.points[self.labels == 1]
        return chosen

    @property
    def negative(self) -> np.ndarray:
        """The exclude points, ``(Q, 2)``."""
        chosen: np.ndarray = self.points[self.labels == 0]
        return chosen


def check_request(request: SmartMaskRequest, *, max_points: int) -> None:
    """Refuse a request whose prompts are wrong whatever the picture is (422 naming the field)."""
    points = request.points or []
    if not points and request.bbox is None and request.mask is None and not request.auto_detect:
        raise field_error("points", "no prompt given: send points, bbox, mask (a brush stroke) or auto_detect: true")
    if len(points) > max_points:
        raise field_error(
            "points", f"{len(points)} points given; at most {max_points} are allowed (RETOUCH_SEGMENTATION_MAX_POINTS)"
        )
    if request.point_labels is not None:
        if request.points is None:
            raise field_error("point_labels", "point_labels given without points")
        if len(request.point_labels) != len(points):
            raise field_error(
                "point_labels", f"{len(request.point_labels)} labels for {len(points)} points; give one label a point"
            )
        if 1 not in request.point_labels and request.bbox is None and request.mask is None and not request.auto_detect:
            raise field_error(
                "point_labels", "every point excludes (label 0): at least one include point (label 1) is needed"
            )
    if request.bbox is not None:
        x0, y0, x1, y1 = request.bbox
        if x1 <= x0 or y1 <= y0:
            raise field_error(
                "bbox",
                f"must be [x_min, y_min, x_max, y_max] with x_max > x_min and y_max > y_min, got {list(request.bbox)}",
            )
    if request.image is None and request.image_id is None:
        raise field_error("image", "send the picture as image, or the image_id of an earlier answer")


def build_prompts(request: SmartMaskRequest, width: int, height: int, stroke: np.ndarray | None) -> Prompts:
    """The request's prompts on a ``width`` x ``height`` picture (422 for anything outside it)."""
    raw = request.points or []
    points = np.zeros((len(raw), 2), dtype=np.int64)
    for i, (x, y) in enumerate(raw):
        if not (0 <= x < width and 0 <= y < height):
            raise field_error(
                f"points[{i}]",
                f"({x:g}, {y:g}) is outside the {width}x{height} picture (x in [0, {width}), y in [0, {height}))",
            )
        points[i] = (math.floor(x), math.floor(y))
    labels = np.asarray(request.point_labels if request.point_labels is not None else [1] * len(raw), dtype=np.int8)
    box: tuple[int, int, int, int] | None = None
    if request.bbox is not None:
        x0, y0, x1, y1 = request.bbox
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise field_error("bbox", f"{list(request.bbox)} reaches outside the {width}x{height} picture")
        box = (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))
    return Prompts(
        width=width, height=height, points=points, labels=labels, box=box, stroke=stroke, auto=request.auto_detect
    )


def decode_stroke(data: bytes, width: int, height: int, limits: ImageLimits) -> np.ndarray:
    """The brush stroke ``mask`` as a boolean ``(height, width)`` array.

    A stroke drawn on a scaled copy of the picture (same aspect ratio) is scaled to the picture;
    another shape, or an empty stroke, is a 422.
    """
    image = open_mask(data, field="mask", limits=limits)
    if image.size != (width, height):
        ratio = (image.width / image.height) / (width / height)
        if abs(ratio - 1.0) > _ASPECT_TOLERANCE:
            raise field_error(
                "mask", f"the brush stroke is {image.width}x{image.height} but the picture is {width}x{height}"
            )
        image = image.resize((width, height), Image.Resampling.NEAREST)
    stroke = np.asarray(image) > 127
    if not stroke.any():
        raise field_error("mask", "the brush stroke is empty (no pixel above 127)")
    return stroke


def nothing_found(detail: str = "nothing found at the given prompts") -> ProblemError:
    """The 422 for prompts that select no object."""
    return ProblemError(422, detail)
