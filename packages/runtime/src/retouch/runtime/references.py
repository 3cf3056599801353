"""How an insertion's reference is read (API.md, Generation jobs): the picture holding the object
and the object's mask on it, whatever shape the client sent them in.

Clients send the reference in one of these shapes, and each is honoured (none is a 422 for a size
the client could not have chosen):

- the whole picture with a mask R of the same size: the mask is the object;
- a cut-out with alpha (e.g. ``extract-object``'s answer), with no mask R: the alpha is the object;
- a cut-out with a mask R of another size: the mask was drawn on the whole original picture and
  the cut-out is that picture cropped to the object's box, so the mask's box is cropped and
  scaled onto the cut-out (a mask whose whole frame has the cut-out's aspect ratio, i.e. drawn on
  a scaled copy of the reference itself, is scaled whole instead); the cut-out's alpha, where it
  has one, keeps only the object's pixels;
- a picture alone (no alpha, no mask R): the whole picture holds the object. Here it is the whole
  picture; the generation service then finds its subject (:mod:`retouch.runtime.subject`), so the
  backdrop is never pasted as a card.

Both the jobs service (at submit) and the generation service (at run) call :func:`reference_mask`,
so a reference one accepts the other reads the same way.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from PIL import Image

from retouch.runtime.masks import THRESHOLD, bbox, binary, to_u8

__all__ = ["ASPECT_TOLERANCE", "ReferenceShape", "has_alpha", "reference_mask", "reference_shape"]

#: How far apart two aspect ratios may be (relative) and still be the same frame scaled.
ASPECT_TOLERANCE: Final = 0.02

#: Which of the module docstring's shapes a reference came in.
ReferenceShape = Literal["masked", "alpha", "cutout_with_mask", "whole_picture"]


def has_alpha(image: Image.Image) -> bool:
    """Whether ``image`` has an alpha channel that is not opaque everywhere."""
    if image.mode not in ("RGBA", "LA", "PA") and not (image.mode == "P" and "transparency" in image.info):
        return False
    alpha = image.convert("RGBA").getchannel("A")
    return alpha.getextrema() != (255, 255)


def reference_shape(reference: Image.Image, mask: Image.Image | None) -> ReferenceShape:
    """Which shape ``reference`` (decoded with its alpha) and ``mask`` (mode ``L`` or ``None``) are."""
    if mask is None:
        return "alpha" if has_alpha(reference) else "whole_picture"
    return "masked" if mask.size == reference.size else "cutout_with_mask"


def _same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs((a[0] / a[1]) / (b[0] / b[1]) - 1.0) <= ASPECT_TOLERANCE


def _mapped(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``mask`` (drawn on the original picture) mapped onto a picture of ``size``."""
    box = bbox(binary(mask))
    if box is None:
        return Image.new("L", size, 0)
    x0, y0, x1, y1 = box
    crop_size = (x1 - x0, y1 - y0)
    # A cut-out is the original cropped to the object's box; a mask drawn on a scaled copy of the
    # reference itself has the reference's frame. When the box's frame is the closer match (it
    # always is for a cut-out of this very mask), crop; otherwise scale the whole mask.
    if _same_aspect(mask.size, size) and not _same_aspect(crop_size, size):
        return mask.resize(size, Image.Resampling.NEAREST)
    return mask.crop(box).resize(size, Image.Resampling.NEAREST)


def reference_mask(reference: Image.Image, mask: Image.Image | None) -> Image.Image:
    """The object's mask on ``reference`` (mode ``L``, 0 or 255, the reference's size).

    ``reference`` is the decoded reference with its alpha (any mode); ``mask`` the decoded mask R
    (mode ``L``) or ``None``. The result may be empty (a mask R with nothing white); the caller
    refuses that, naming its field.
    """
    shape = reference_shape(reference, mask)
    alpha = binary(reference.convert("RGBA").getchannel("A")) if has_alpha(reference) else None
    if shape == "whole_picture":
        return Image.new("L", reference.size, 255)
    if shape == "alpha":
        assert alpha is not None
        return Image.fromarray(to_u8(alpha), mode="L")
    assert mask is not None
    placed = mask if shape == "masked" else _mapped(mask, reference.size)
    inside = np.asarray(placed.convert("L")) > THRESHOLD
    if alpha is not None and (inside & alpha).any():
        # The cut-out's alpha is exact where the mask, scaled, is approximate.
        inside &= alpha
    return Image.fromarray(to_u8(inside), mode="L")
