"""Choosing among cached candidate masks per prompt (what FastSAM's second click does), on known masks."""

from __future__ import annotations

import numpy as np
import pytest

from retouch.segmentation.candidates import Candidates, select
from retouch.segmentation.prompts import Prompts

# Candidates at half the picture's resolution, as the network's output is smaller than the picture.
PW, PH = 200, 120
MW, MH = 100, 60


def rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((MH, MW), bool)
    mask[y0:y1, x0:x1] = True
    return mask


# 0: a large left object, 1: its upper half (a part), 2: a right object, 3: the whole picture,
# 4: a thin strip inside object 2.
MASKS = np.stack(
    [
        rect(5, 5, 45, 55),
        rect(5, 5, 45, 30),
        rect(55, 10, 95, 50),
        rect(0, 0, MW, MH),
        rect(60, 28, 90, 32),
    ]
)
SCORES = np.array([0.9, 0.95, 0.8, 0.3, 0.5], np.float32)


@pytest.fixture
def candidates() -> Candidates:
    return Candidates.from_masks(MASKS, SCORES, PW, PH)


def prompts(
    points: list[tuple[int, int]] | None = None,
    labels: list[int] | None = None,
    box: tuple[int, int, int, int] | None = None,
    stroke: np.ndarray | None = None,
    auto: bool = False,
) -> Prompts:
    pts = np.asarray(points or [], np.int64).reshape(-1, 2)
    lab = np.asarray(labels if labels is not None else [1] * len(pts), np.int8)
    return Prompts(width=PW, height=PH, points=pts, labels=lab, box=box, stroke=stroke, auto=auto)


def full(mask: np.ndarray) -> np.ndarray:
    """A mask-resolution mask at the picture's resolution (each pixel doubled)."""
    return np.kron(mask, np.ones((2, 2), bool)).astype(bool)


def test_packing_keeps_every_mask_and_its_box(candidates: Candidates) -> None:
    assert len(candidates) == 5
    for i in range(5):
        assert np.array_equal(candidates.mask(i), MASKS[i])
    assert candidates.areas.tolist() == [int(m.sum()) for m in MASKS]
    assert candidates.boxes[2].tolist() == [55, 10, 95, 50]
    assert candidates.nbytes < MASKS.nbytes


def test_a_click_picks_the_most_confident_mask_under_it(candidates: Candidates) -> None:
    # (30, 20) in the picture is (15, 10) in the masks: inside 0, 1 and 3; 1 is the most confident.
    selection = select(candidates, prompts([(30, 20)]))
    assert selection is not None
    assert np.array_equal(selection.mask, MASKS[1])
    assert selection.score == pytest.approx(0.95)
    assert np.array_equal(selection.render(candidates) > 127, full(MASKS[1]))


def test_an_exclude_click_steers_the_choice_away_from_masks_containing_it(candidates: Candidates) -> None:
    # The object (0) and its part (1) both contain the include click; the exclude click lies in the
    # object below the part, so the part is chosen.
    selection = select(candidates, prompts([(30, 20), (30, 90)], [1, 0]))
    assert selection is not None and np.array_equal(selection.mask, MASKS[1])


def test_an_exclude_click_subtracts_the_object_under_it(candidates: Candidates) -> None:
    # The include click is in object 0 below its part; the exclude click is in the part.
    selection = select(candidates, prompts([(20, 100), (30, 20)], [1, 0]))
    assert selection is not None
    assert np.array_equal(selection.mask, MASKS[0] & ~MASKS[1])


def test_two_include_clicks_take_both_objects(candidates: Candidates) -> None:
    selection = select(candidates, prompts([(20, 100), (150, 60)]))
    assert selection is not None
    assert np.array_equal(selection.mask, MASKS[0] | MASKS[2])


def test_a_box_alone_picks_the_best_fitting_mask_and_clips_to_the_box(candidates: Candidates) -> None:
    selection = select(candidates, prompts(box=(108, 18, 192, 102)))
    assert selection is not None
    assert np.array_equal(selection.mask, MASKS[2] & rect(54, 9, 96, 51))


def test_a_box_prefers_among_the_clicked_masks_the_one_that_fits(candidates: Candidates) -> None:
    # A click inside object 0 and its part; the box drawn round the whole object picks the object.
    selection = select(candidates, prompts([(30, 20)], box=(8, 8, 92, 112)))
    assert selection is not None
    assert np.array_equal(selection.mask, MASKS[0])


def test_a_brush_stroke_picks_the_masks_that_fit_its_shape(candidates: Candidates) -> None:
    stroke = full(rect(55, 10, 95, 50))  # painted over object 2
    selection = select(candidates, prompts(stroke=stroke))
    assert selection is not None and np.array_equal(selection.mask, MASKS[2])
    # Painted over both objects: both are taken.
    both = full(rect(5, 5, 45, 55) | rect(55, 10, 95, 50))
    selection = select(candidates, prompts(stroke=both))
    assert selection is not None and np.array_equal(selection.mask, MASKS[0] | MASKS[2])


def test_a_thin_stroke_on_a_small_picture_scale_is_not_lost(candidates: Candidates) -> None:
    stroke = np.zeros((PH, PW), bool)
    stroke[60, 120:180] = True  # one picture pixel high: half a mask pixel
    selection = select(candidates, prompts(stroke=stroke))
    assert selection is not None and np.array_equal(selection.mask, MASKS[4])


def test_auto_detect_prefers_a_confident_central_object_over_the_whole_picture(candidates: Candidates) -> None:
    selection = select(candidates, prompts(auto=True))
    assert selection is not None
    assert not np.array_equal(selection.mask, MASKS[3])


def test_nothing_under_the_click_selects_nothing() -> None:
    few = Candidates.from_masks(MASKS[:3], SCORES[:3], PW, PH)
    assert select(few, prompts([(100, 5)])) is None
    empty = Candidates.from_masks(np.zeros((0, MH, MW), bool), np.zeros(0, np.float32), PW, PH)
    assert select(empty, prompts([(100, 5)])) is None
    assert len(empty) == 0
