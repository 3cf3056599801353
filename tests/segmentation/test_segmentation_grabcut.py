"""GrabCut on generated scenes with known ground truth, through ``POST /api/smart-mask``."""

from __future__ import annotations

import math
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image
from seg_scenes import (
    H,
    W,
    b64,
    disk,
    disk_scene,
    iou,
    paint,
    png,
    response_mask,
    textured_background,
    two_object_scene,
)
from seg_support import MakeApp, grabcut_settings


async def smart_mask(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/api/smart-mask", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def check_well_formed(answer: dict[str, Any], width: int = W, height: int = H) -> np.ndarray:
    """The answer's mask, after checking it has the picture's size and that its bbox is right."""
    assert answer["success"] is True
    mask = response_mask(answer)
    assert mask.shape == (height, width)
    rows, cols = np.nonzero(mask > 127)
    assert answer["bbox"] == [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    assert 0.0 <= answer["score"] <= 1.0
    assert answer["width"] == width and answer["height"] == height
    return mask


@pytest.mark.parametrize(("seed", "click"), [(0, (110, 96)), (1, (90, 80)), (2, (135, 110))])
async def test_one_click_finds_the_disk(http: httpx.AsyncClient, seed: int, click: tuple[int, int]) -> None:
    image, truth = disk_scene(seed)
    answer = await smart_mask(http, image=b64(png(image)), points=[list(click)])
    mask = check_well_formed(answer)
    assert set(np.unique(mask)) <= {0, 255}
    assert iou(mask > 127, truth) >= 0.9
    assert answer["engine"] == "grabcut"


async def test_negative_point_removes_a_touching_object(http: httpx.AsyncClient) -> None:
    image, a, b = two_object_scene()
    data = b64(png(image))
    # Without the exclude click GrabCut takes both disks: they touch and are of similar colours.
    both = response_mask(await smart_mask(http, image=data, points=[[110, 96]])) > 127
    assert np.count_nonzero(both & b) / np.count_nonzero(b) > 0.9
    answer = await smart_mask(http, image=data, points=[[110, 96], [185, 96]], point_labels=[1, 0])
    mask = check_well_formed(answer) > 127
    assert iou(mask, a) >= 0.9
    assert np.count_nonzero(mask & b) / np.count_nonzero(b) < 0.05


async def test_box_alone(http: httpx.AsyncClient) -> None:
    image, truth = disk_scene(3)
    answer = await smart_mask(http, image=b64(png(image)), bbox=[60, 46, 160, 146])
    assert iou(check_well_formed(answer) > 127, truth) >= 0.9


async def test_box_with_include_and_exclude_points(http: httpx.AsyncClient) -> None:
    image, a, b = two_object_scene(1)
    body = {"bbox": [60, 46, 215, 146], "points": [[110, 96], [185, 96]], "point_labels": [1, 0]}
    answer = await smart_mask(http, image=b64(png(image)), **body)
    mask = check_well_formed(answer) > 127
    assert iou(mask, a) >= 0.9
    assert np.count_nonzero(mask & b) / np.count_nonzero(b) < 0.05


async def test_brush_stroke_alone(http: httpx.AsyncClient) -> None:
    image, truth = disk_scene(4)
    stroke = np.zeros((H, W), np.uint8)
    cv2.line(stroke, (85, 100), (140, 88), 255, thickness=9)
    answer = await smart_mask(http, image=b64(png(image)), mask=b64(png(stroke)))
    assert iou(check_well_formed(answer) > 127, truth) >= 0.9


async def test_brush_stroke_drawn_on_a_half_size_copy_is_scaled(http: httpx.AsyncClient) -> None:
    image, truth = disk_scene(5)
    stroke = np.zeros((H // 2, W // 2), np.uint8)
    cv2.line(stroke, (43, 50), (70, 44), 255, thickness=5)
    answer = await smart_mask(http, image=b64(png(image)), mask=b64(png(stroke)))
    assert iou(check_well_formed(answer) > 127, truth) >= 0.9


async def test_auto_detect_finds_the_main_object(http: httpx.AsyncClient) -> None:
    image, truth = disk_scene(6, cx=128, cy=96, r=50)
    answer = await smart_mask(http, image=b64(png(image)), auto_detect=True)
    assert iou(check_well_formed(answer) > 127, truth) >= 0.9


@pytest.mark.parametrize("pixels", [5, -5])
async def test_border_adjustment_moves_the_edge_by_that_many_pixels(http: httpx.AsyncClient, pixels: int) -> None:
    image, _ = disk_scene(0)
    data = b64(png(image))
    base = response_mask(await smart_mask(http, image=data, points=[[110, 96]])) > 127
    adjusted = check_well_formed(await smart_mask(http, image=data, points=[[110, 96]], border_adjustment=pixels)) > 127
    # The expected ring of a disk of the same area: pi * ((r + d)^2 - r^2).
    r = math.sqrt(np.count_nonzero(base) / math.pi)
    expected = math.pi * ((r + pixels) ** 2 - r**2)
    change = np.count_nonzero(adjusted) - np.count_nonzero(base)
    assert change == pytest.approx(expected, rel=0.1)
    # Exactly by distance: every added (removed) pixel lies within |d| of the original edge.
    if pixels > 0:
        assert not (base & ~adjusted).any()
        distance = cv2.distanceTransform((~base).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        assert distance[adjusted].max() <= pixels
    else:
        assert not (adjusted & ~base).any()
        distance = cv2.distanceTransform(base.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        assert distance[adjusted].min() > -pixels


async def test_use_blur_feathers_the_edge(http: httpx.AsyncClient) -> None:
    image, _ = disk_scene(0)
    data = b64(png(image))
    hard = response_mask(await smart_mask(http, image=data, points=[[110, 96]]))
    soft = response_mask(await smart_mask(http, image=data, points=[[110, 96]], use_blur=True))
    assert set(np.unique(hard)) == {0, 255}
    greys = np.count_nonzero((soft > 0) & (soft < 255))
    assert greys > 100
    # Feathering softens the edge without moving it.
    assert iou(soft > 127, hard > 127) > 0.95


async def test_large_picture_is_segmented_at_working_size_and_answered_full_size(make_app: MakeApp) -> None:
    _, http = await make_app(grabcut_settings(grabcut_max_side=200))
    width, height = 800, 600
    truth = disk(width, height, 380, 290, 140)
    background = np.asarray(Image.fromarray(textured_background(W, H, 7)).resize((width, height)))
    image = paint(background, truth, (150, 120, 90), 7, noise=25)
    answer = await smart_mask(http, image=b64(png(image)), points=[[380, 290]])
    assert iou(check_well_formed(answer, width, height) > 127, truth) >= 0.9


async def test_second_click_reuses_the_picture_by_image_id(http: httpx.AsyncClient) -> None:
    image, truth = disk_scene(0)
    first = await smart_mask(http, image=b64(png(image)), points=[[110, 96]])
    assert first["cached"] is False
    assert "decode" in first["timings"] and "prepare" in first["timings"]
    second = await smart_mask(http, image_id=first["image_id"], points=[[120, 100]])
    assert second["cached"] is True and second["image_id"] == first["image_id"]
    assert "decode" not in second["timings"] and "prepare" not in second["timings"]
    assert iou(check_well_formed(second) > 127, truth) >= 0.9
    # Sending the same bytes again also hits the cache (the id is the content's hash).
    third = await smart_mask(http, image=b64(png(image)), points=[[110, 96]])
    assert third["cached"] is True and third["image_id"] == first["image_id"]


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (5, 3), (3, 40)])
async def test_tiny_pictures_get_a_mask_or_a_clear_4xx(http: httpx.AsyncClient, size: tuple[int, int]) -> None:
    width, height = size
    image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    stroke = b64(png(np.full((height, width), 255, np.uint8)))
    bodies: list[dict[str, Any]] = [
        {"points": [[0, 0]]},
        {"bbox": [0, 0, width, height]},
        {"auto_detect": True},
        {"mask": stroke},
    ]
    for body in bodies:
        response = await http.post("/api/smart-mask", json={"image": b64(png(image)), **body})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            check_well_formed(response.json(), width, height)
        else:
            assert response.json()["detail"] == "nothing found at the given prompts"
    # A click always keeps at least the clicked pixel.
    click = await smart_mask(http, image=b64(png(image)), points=[[0, 0]])
    assert response_mask(click)[0, 0] == 255
