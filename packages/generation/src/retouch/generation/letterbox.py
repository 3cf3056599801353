"""Letterboxing: fit a picture into the model's working frame without distorting it, and back.

:func:`letterbox` scales the picture to fit ``(width, height)`` keeping its aspect and pads the rest;
:func:`unletterbox` crops the padding off a model output of that frame and resizes it to the
original size, so the edit always comes back at exactly the input's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from retouch.runtime.placement import fit

__all__ = ["PAD_RGB", "Placement", "fit_frame", "letterbox", "place", "unletterbox"]

#: Padding of letterboxed pictures: neutral grey, so it reads as "nothing here" to a model.
PAD_RGB = (127, 127, 127)


@dataclass(frozen=True)
class Placement:
    """Where the original picture sits inside the letterboxed frame."""

    frame: tuple[int, int]
    box: tuple[int, int, int, int]
    original: tuple[int, int]

    @property
    def scale(self) -> float:
        """Frame pixels per original pixel."""
        return (self.box[2] - self.box[0]) / self.original[0]


def place(size: tuple[int, int], frame: tuple[int, int]) -> Placement:
    """The centred, aspect-keeping placement of a ``size`` picture inside ``frame`` (the runtime's
    :func:`~retouch.runtime.placement.fit`, as the image-utils letterbox places it)."""
    return Placement(frame=frame, box=fit(size, frame).box, original=size)


def letterbox(image: Image.Image, frame: tuple[int, int], *, mask: bool = False) -> tuple[Image.Image, Placement]:
    """``image`` fitted into ``frame``: resized keeping its aspect, centred, padded.

    Masks (``mask=True``) are resized with nearest-neighbour and padded with black (no edit), so
    they stay binary; pictures are resized with Lanczos and padded with neutral grey.
    """
    placement = place(image.size, frame)
    left, top, right, bottom = placement.box
    content_size = (right - left, bottom - top)
    resample = Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS
    content = image if image.size == content_size else image.resize(content_size, resample)
    fill: int | tuple[int, ...] = 0 if mask else PAD_RGB if image.mode == "RGB" else 127
    canvas = Image.new(image.mode, frame, fill)
    canvas.paste(content, (left, top))
    return canvas, placement


def unletterbox(image: Image.Image, placement: Placement) -> Image.Image:
    """The model's output of a letterboxed frame, cropped to the picture and resized back to the
    original size exactly."""
    if image.size != placement.frame:
        image = image.resize(placement.frame, Image.Resampling.LANCZOS)
    content = image.crop(placement.box)
    if content.size != placement.original:
        content = content.resize(placement.original, Image.Resampling.LANCZOS)
    return content


def fit_frame(size: tuple[int, int], max_side: int, multiple: int = 16) -> tuple[int, int]:
    """The working frame for ``input_quality="original"``: the picture's own size, scaled down to
    ``max_side`` if larger, rounded to ``multiple`` (what the model's latent grid needs)."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    frame_w = max(multiple, round(width * scale / multiple) * multiple)
    frame_h = max(multiple, round(height * scale / multiple) * multiple)
    return min(frame_w, max_side), min(frame_h, max_side)
