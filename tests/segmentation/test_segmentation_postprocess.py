"""The shared post-processing: hole filling, exact grow/shrink, feathering, bounding boxes."""

from __future__ import annotations

import numpy as np

from retouch.segmentation.postprocess import adjust_border, bbox_of, feather, fill_holes


def square(size: int = 40, x0: int = 10, y0: int = 10, side: int = 20) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[y0 : y0 + side, x0 : x0 + side] = 255
    return mask


def test_small_enclosed_holes_are_filled_and_large_ones_kept() -> None:
    mask = square()
    mask[15:17, 15:17] = 0  # 4 pixels
    mask[20:28, 20:28] = 0  # 64 pixels
    filled = fill_holes(mask, max_area=10)
    assert (filled[15:17, 15:17] == 255).all()
    assert (filled[20:28, 20:28] == 0).all()


def test_background_touching_the_edge_is_never_filled() -> None:
    mask = np.full((20, 20), 255, np.uint8)
    mask[0:3, 0:3] = 0  # a notch in the corner, not a hole
    assert (fill_holes(mask, max_area=100)[0:3, 0:3] == 0).all()


def test_growing_adds_a_ring_of_exactly_that_width() -> None:
    point = np.zeros((41, 41), np.uint8)
    point[20, 20] = 255
    grown = adjust_border(point, 5) > 127
    yy, xx = np.mgrid[0:41, 0:41]
    assert np.array_equal(grown, (yy - 20) ** 2 + (xx - 20) ** 2 <= 25)


def test_shrinking_treats_the_picture_edge_as_outside() -> None:
    full = np.full((20, 30), 255, np.uint8)
    shrunk = adjust_border(full, -3) > 127
    assert bbox_of(np.where(shrunk, 255, 0).astype(np.uint8)) == [3, 3, 27, 17]


def test_zero_adjustment_is_the_identity() -> None:
    mask = square()
    assert adjust_border(mask, 0) is mask


def test_feathering_adds_grey_levels_only_near_the_edge() -> None:
    soft = feather(square(), 2.0)
    assert soft[20, 20] == 255 and soft[0, 0] == 0
    assert ((soft > 0) & (soft < 255)).any()
    assert np.array_equal(feather(square(), 0.0), square())


def test_bbox_has_exclusive_max_edges() -> None:
    assert bbox_of(square()) == [10, 10, 30, 30]
    assert bbox_of(np.zeros((5, 5), np.uint8)) is None
