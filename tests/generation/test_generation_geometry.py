"""Where the model works: frames at its native area at the crop's aspect, crops around the mask,
the output pasted back into the full-resolution picture, and the edit region that covers shadows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from generation_helpers import box_mask
from PIL import Image

from retouch.generation.compositing import composite, edit_region, protected
from retouch.generation.letterbox import FRAME_MULTIPLE, MAX_ASPECT, _dimensions, model_frame, paste_back, plan_crop

AREAS = (64 * 64, 512 * 512, 1024 * 1024)


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize(
    "size", [(1, 1), (4000, 3000), (3000, 4000), (1920, 1080), (777, 333), (50, 2000), (1024, 1024)]
)
def test_a_frame_is_the_pipelines_own_size_for_it_near_the_area_and_aspect(area: int, size: tuple[int, int]) -> None:
    frame = model_frame(size, area)
    assert frame[0] % FRAME_MULTIPLE == 0 and frame[1] % FRAME_MULTIPLE == 0
    # The pipeline resizes a condition picture of this size to this same size: the grids coincide.
    assert _dimensions(area, frame[0] / frame[1]) == frame
    if area >= 512 * 512:
        assert abs(frame[0] * frame[1] / area - 1) < 0.1
        ratio = min(MAX_ASPECT, max(1 / MAX_ASPECT, size[0] / size[1]))
        assert abs(math.log(frame[0] / frame[1] / ratio)) < 0.08  # no square letterbox: the crop's own shape


def test_a_small_edit_in_a_big_picture_is_cropped_at_native_resolution() -> None:
    plan = plan_crop((4000, 3000), (1800, 1400, 1900, 1500), 1024 * 1024, whole=False)
    left, top, right, bottom = plan.box
    assert left <= 1800 and top <= 1400 and right >= 1900 and bottom >= 1500  # the mask is inside
    assert left >= 0 and top >= 0 and right <= 4000 and bottom <= 3000
    assert abs(plan.scale - 1) < 0.05  # about one frame pixel per input pixel
    assert abs((right - left) / (bottom - top) - plan.frame[0] / plan.frame[1]) < 0.01  # no distortion


def test_an_edit_at_the_picture_edge_keeps_the_box_inside_the_picture() -> None:
    plan = plan_crop((3000, 2000), (0, 1900, 150, 2000), 1024 * 1024, whole=False)
    left, top, right, bottom = plan.box
    assert (left, bottom) == (0, 2000) and right <= 3000 and top >= 0 and right - left > 150


def test_a_large_edit_is_shrunk_to_the_frame_with_context() -> None:
    plan = plan_crop((6000, 4000), (1000, 1000, 5000, 3000), 1024 * 1024, whole=False)
    assert plan.scale < 0.5 and plan.box[0] < 1000 and plan.box[2] > 5000


def test_resized_and_whole_picture_edits_see_everything() -> None:
    assert plan_crop((4000, 3000), (10, 10, 20, 20), 1024 * 1024, whole=True).box == (0, 0, 4000, 3000)
    assert plan_crop((4000, 3000), None, 1024 * 1024).box == (0, 0, 4000, 3000)


def test_a_picture_smaller_than_the_area_is_used_whole() -> None:
    plan = plan_crop((640, 480), (300, 200, 340, 260), 1024 * 1024, whole=False)
    assert plan.box == (0, 0, 640, 480) and plan.scale > 1


def test_paste_back_leaves_every_pixel_outside_the_box_bit_identical() -> None:
    rng = np.random.default_rng(1)
    original = Image.fromarray(rng.integers(0, 255, (600, 900, 3), dtype=np.uint8))
    plan = plan_crop(original.size, (400, 250, 460, 320), 64 * 64 * 4, whole=False)
    output = Image.new("RGB", plan.frame, (255, 0, 0))
    result = np.asarray(paste_back(original, output, plan))
    left, top, right, bottom = plan.box
    outside = np.ones(result.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(result[outside], np.asarray(original)[outside])
    assert (result[top:bottom, left:right] == (255, 0, 0)).all()


def test_to_frame_then_paste_back_of_the_same_pixels_is_the_identity_at_scale_one() -> None:
    rng = np.random.default_rng(2)
    original = Image.fromarray(rng.integers(0, 255, (2000, 3000, 3), dtype=np.uint8))
    plan = plan_crop(original.size, (1500, 1000, 1540, 1040), 512 * 512, whole=False)
    if plan.box_size == plan.frame:
        assert paste_back(original, plan.to_frame(original), plan).tobytes() == original.tobytes()
    mask = plan.to_frame(box_mask(original.size, (1500, 1000, 1540, 1040)), mask=True)
    assert set(np.unique(np.asarray(mask))) == {0, 255}


def test_the_edit_region_covers_the_shadow_below_and_a_margin_around() -> None:
    mask = box_mask((200, 200), (80, 40, 120, 100))  # 40 wide, 60 high
    region = np.asarray(edit_region(mask, around_px=8, below_share=0.5)) > 127
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    assert rows[0] == 40 - 8 and rows[-1] == 99 + 30 + 8  # half its height further down, then 8 around
    assert cols[0] == 80 - 8 and cols[-1] == 119 + 8
    # More than the old mask + 8 px band: a shadow 20 px below the object is now inside.
    assert region[99 + 20, 100] and protected(mask, 8)[99 + 20, 100]


def test_compositing_over_the_region_keeps_far_pixels_and_takes_the_shadow() -> None:
    original = Image.new("RGB", (200, 200), (180, 180, 180))
    edited = Image.new("RGB", (200, 200), (60, 60, 60))
    mask = box_mask((200, 200), (80, 40, 120, 100))
    region = edit_region(mask, around_px=8, below_share=0.5)
    result = np.asarray(composite(original, edited, region, 8))
    keep = protected(region, 8)
    assert (result[keep] == 180).all()
    assert (result[110, 100] == 60).all()  # under the object: the model's shadow


def test_a_colour_edit_keeps_the_full_resolution_detail() -> None:
    from retouch.generation.letterbox import paste_back_colour

    rng = np.random.default_rng(3)
    detail = rng.integers(60, 180, (400, 600, 3)).astype(np.uint8)  # pixel-level texture
    original = Image.fromarray(detail)
    plan = plan_crop(original.size, None, 64 * 64)
    assert plan.scale < 0.2
    gains = np.array([1.2, 1.0, 0.8], dtype=np.float32)
    small = np.asarray(plan.to_frame(original), dtype=np.float32)
    output = Image.fromarray(np.clip(np.rint((small + 1) * gains - 1), 0, 255).astype(np.uint8))
    result = np.asarray(paste_back_colour(original, output, plan), dtype=np.float32)
    expected = np.clip((detail.astype(np.float32) + 1) * gains - 1, 0, 255)
    assert np.abs(result - expected).mean() < 2.0  # the texture survives, with the model's colour
    upscaled = np.asarray(paste_back(original, output, plan), dtype=np.float32)
    assert np.abs(upscaled - expected).mean() > 10 * np.abs(result - expected).mean()
