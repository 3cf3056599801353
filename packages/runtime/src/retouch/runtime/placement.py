"""Letterbox placement: where a picture goes when it is fitted into a frame without distortion.

Written once for the image-utils ``letterbox`` operation and the generation service's working
frame, so both put a picture at the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Fit", "fit"]


@dataclass(frozen=True)
class Fit:
    """A ``size`` picture fitted into ``frame``: scaled by ``scale``, centred at ``box``."""

    frame: tuple[int, int]
    #: ``(left, top, right, bottom)`` of the picture in the frame (right and bottom exclusive).
    box: tuple[int, int, int, int]
    original: tuple[int, int]
    scale: float


def fit(size: tuple[int, int], frame: tuple[int, int], *, upscale: bool = True) -> Fit:
    """The centred, aspect-keeping placement of a ``size`` picture inside ``frame``.

    The scale is the largest that fits (capped at 1 unless ``upscale``); each side is rounded to
    whole pixels (at least 1, at most the frame's) and the padding splits evenly, the odd pixel
    going right / bottom.
    """
    width, height = size
    frame_w, frame_h = frame
    scale = min(frame_w / width, frame_h / height)
    if not upscale:
        scale = min(scale, 1.0)
    content_w = max(1, min(frame_w, round(width * scale)))
    content_h = max(1, min(frame_h, round(height * scale)))
    left = (frame_w - content_w) // 2
    top = (frame_h - content_h) // 2
    return Fit(frame=frame, box=(left, top, left + content_w, top + content_h), original=size, scale=scale)
