"""The mask primitives every service uses: hole filling, exact grow/shrink, feathering, bounding
boxes, cut-outs, and the letterbox placement."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from retouch.runtime.masks import adjust_border, bbox, cut_out, feather, feather_alpha, fill_holes, grow, shrink
from retouch.runtime.placement import fit


def square(size: int = 40, x0: int = 10, y0: int = 10, side: int = 20) -> np.ndarray:
    inside = np.zeros((size, size), bool)
    inside[y0 : y0 + side, x0 : x0 + side] = True
    return inside


def test_small_enclosed_holes_are_filled_and_large_ones_kept() -> None:
    inside = square()
    inside[15:17, 15:17] = False  # 4 pixels
    inside[20:28, 20:28] = False  # 64 pixels
    filled = fill_holes(inside, max_area=10)
    assert filled[15:17, 15:17].all()
    assert not filled[20:28, 20:28].any()


def test_background_touching_the_edge_is_never_filled() -> None:
    inside = np.ones((20, 20), bool)
    inside[0:3, 0:3] = False  # a notch in the corner, not a hole
    assert not fill_holes(inside, max_area=100)[0:3, 0:3].any()


def test_holes_are_four_connected_and_measured_whole() -> None:
    inside = square()
    # Two 2x2 holes touching only at a corner are two holes of 4 (4-connectivity), each filled.
    inside[12:14, 12:14] = False
    inside[14:16, 14:16] = False
    # A hole that reaches the outside through a one-pixel channel is not a hole.
    inside[22:25, 22:25] = False
    inside[22, 25:] = False
    # A hole of exactly max_area is filled.
    inside[12:14, 22:25] = False  # 6 pixels
    filled = fill_holes(inside, max_area=6)
    assert filled[12:16, 12:16].all()
    assert not filled[22:25, 22:25].any()
    assert filled[12:14, 22:25].all()
    assert fill_holes(inside, max_area=5)[12:14, 22:25].sum() == 0


def test_growing_adds_a_disk_of_exactly_that_radius() -> None:
    point = np.zeros((41, 41), bool)
    point[20, 20] = True
    yy, xx = np.mgrid[0:41, 0:41]
    assert np.array_equal(grow(point, 5), (yy - 20) ** 2 + (xx - 20) ** 2 <= 25)
    # The example: a dot grown by 6 px covers the 113 pixels within 6 px of it.
    assert int(grow(point, 6).sum()) == 113


def test_shrinking_is_the_disk_erosion_and_the_picture_edge_is_not_outside() -> None:
    # A 40x40 mask filling columns 0-19, shrunk by 5: columns 0-14 remain (the frame is no edge).
    inside = np.zeros((40, 40), bool)
    inside[:, :20] = True
    shrunk = shrink(inside, 5)
    assert bbox(shrunk) == (0, 0, 15, 40)
    full = np.ones((20, 30), bool)
    assert shrink(full, 3).all()
    assert bbox(shrink(square(), 3)) == (13, 13, 27, 27)


def test_adjust_border_grows_for_positive_and_shrinks_for_negative() -> None:
    inside = square()
    assert np.array_equal(adjust_border(inside, 4), grow(inside, 4))
    assert np.array_equal(adjust_border(inside, -4), shrink(inside, 4))
    assert adjust_border(inside, 0) is inside


def test_feathering_is_a_ramp_symmetric_about_the_edge() -> None:
    inside = np.zeros((10, 60), bool)
    inside[:, :30] = True
    soft = feather(inside, 8.0)
    assert soft[5, 0] == 255 and soft[5, 59] == 0
    row = soft[5].astype(int)
    assert all(row[29 - k] + row[30 + k] == 255 for k in range(6))
    assert np.array_equal(feather(inside, 0.0), np.where(inside, 255, 0))
    alpha = feather_alpha(inside, 8.0)
    assert alpha.dtype == np.float32 and alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_bbox_has_exclusive_max_edges() -> None:
    assert bbox(square()) == (10, 10, 30, 30)
    assert bbox(np.zeros((5, 5), bool)) is None


def test_cut_out_crops_to_the_mask_and_multiplies_alpha() -> None:
    picture = Image.new("RGBA", (8, 6), (10, 20, 30, 128))
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 2:5] = 200
    hard, box = cut_out(picture, mask)
    assert box == (2, 1, 5, 3) and hard.size == (3, 2)
    assert np.asarray(hard)[..., 3].tolist() == [[128] * 3] * 2
    soft, _ = cut_out(picture, mask, soft=True)
    assert int(np.asarray(soft)[0, 0, 3]) == (200 * 128 + 127) // 255
    with pytest.raises(ValueError):
        cut_out(picture, np.zeros((6, 8), np.uint8))


@pytest.mark.parametrize(
    ("size", "frame", "upscale", "box"),
    [
        ((100, 50), (64, 64), True, (0, 16, 64, 48)),
        ((10, 10), (64, 32), True, (16, 0, 48, 32)),
        ((10, 10), (64, 32), False, (27, 11, 37, 21)),
        ((1, 1000), (64, 64), True, (31, 0, 32, 64)),
    ],
)
def test_fit_centres_and_keeps_the_aspect(
    size: tuple[int, int], frame: tuple[int, int], upscale: bool, box: tuple[int, int, int, int]
) -> None:
    assert fit(size, frame, upscale=upscale).box == box
