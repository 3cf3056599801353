"""Every shape of insertion reference API.md allows reads as the picture and the object's mask on it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from retouch.runtime.masks import bbox, binary, cut_out
from retouch.runtime.references import reference_mask, reference_shape

#: The original reference the user drew on: 400x300, the object a disk at (150, 120), r 50.
W, H = 400, 300
YY, XX = np.mgrid[0:H, 0:W]
DISK = (XX - 150) ** 2 + (YY - 120) ** 2 <= 50**2


def original() -> Image.Image:
    pixels = np.full((H, W, 3), (40, 90, 160), np.uint8)
    pixels[DISK] = (220, 60, 40)
    return Image.fromarray(pixels)


def mask_r() -> Image.Image:
    return Image.fromarray(np.where(DISK, 255, 0).astype(np.uint8), mode="L")


def test_a_full_size_mask_is_the_object() -> None:
    mask = reference_mask(original(), mask_r())
    assert reference_shape(original(), mask_r()) == "masked"
    assert np.array_equal(binary(mask), DISK)


def test_a_cut_out_with_alpha_and_no_mask_uses_its_alpha() -> None:
    cut, box = cut_out(original(), np.asarray(mask_r()))
    assert reference_shape(cut, None) == "alpha"
    mask = reference_mask(cut, None)
    assert mask.size == cut.size
    x0, y0, x1, y1 = box
    assert np.array_equal(binary(mask), DISK[y0:y1, x0:x1])


def test_a_cut_out_with_the_full_size_mask_maps_it_onto_the_crop() -> None:
    # The seed client: extract-object's cut-out (139x140 here) with the 400x300 mask drawn on
    # the original; the two sizes differ and that is not the client's fault.
    cut, box = cut_out(original(), np.asarray(mask_r()))
    assert cut.size != mask_r().size
    assert reference_shape(cut, mask_r()) == "cutout_with_mask"
    mask = binary(reference_mask(cut, mask_r()))
    x0, y0, x1, y1 = box
    truth = DISK[y0:y1, x0:x1]
    assert (mask == truth).mean() > 0.99


def test_an_opaque_crop_with_the_full_size_mask_maps_the_mask_by_its_box() -> None:
    # No alpha to help: the mask's box is cropped and scaled onto the picture.
    x0, y0, x1, y1 = bbox(DISK) or (0, 0, 0, 0)
    crop = original().crop((x0, y0, x1, y1)).resize(((x1 - x0) * 2, (y1 - y0) * 2))
    mask = binary(reference_mask(crop, mask_r()))
    truth = np.asarray(Image.fromarray(DISK[y0:y1, x0:x1]).resize(crop.size)) > 0
    assert (mask == truth).mean() > 0.98


def test_a_mask_drawn_on_a_scaled_copy_is_scaled_whole() -> None:
    small = mask_r().resize((200, 150), Image.Resampling.NEAREST)
    mask = binary(reference_mask(original(), small))
    assert (mask == DISK).mean() > 0.99


def test_a_picture_alone_is_the_whole_object() -> None:
    assert reference_shape(original(), None) == "whole_picture"
    mask = binary(reference_mask(original(), None))
    assert mask.all()


def test_an_opaque_rgba_picture_alone_is_the_whole_object() -> None:
    opaque = original().convert("RGBA")
    assert reference_shape(opaque, None) == "whole_picture"
    assert binary(reference_mask(opaque, None)).all()


def test_an_empty_mask_stays_empty_for_the_caller_to_refuse() -> None:
    cut, _ = cut_out(original(), np.asarray(mask_r()))
    assert not binary(reference_mask(cut, Image.new("L", (W, H), 0))).any()
