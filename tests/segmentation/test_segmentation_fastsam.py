"""FastSAM for real, offline: a random-weight FastSAM-architecture checkpoint loaded through the
production code path, answering points, labels, boxes and brush strokes; the network runs once
per picture however many clicks follow."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from seg_scenes import H, W, b64, disk_scene, png, response_mask
from seg_support import MakeApp, fastsam_settings, wait_until_settled

from retouch.segmentation.engines import Engine

pytestmark = pytest.mark.slow

IMAGE, _ = disk_scene(0)
DATA = b64(png(IMAGE))


def check_well_formed(answer: dict[str, Any]) -> np.ndarray:
    assert answer["success"] is True and answer["engine"] == "fastsam"
    mask = response_mask(answer)
    assert mask.shape == (H, W)
    assert set(np.unique(mask)) <= {0, 255}
    rows, cols = np.nonzero(mask)
    assert rows.size > 0
    assert answer["bbox"] == [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    assert 0.0 <= answer["score"] <= 1.0
    return mask


def inner_point(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its edge, ``(x, y)``."""
    distance = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


async def post(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/api/smart-mask", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def forward_passes(fastsam_engine: Engine) -> Iterator[list[int]]:
    """Counts the network's forward passes (a hook on the torch module ultralytics' predictor runs)."""
    calls: list[int] = []
    network = fastsam_engine.model.predictor.model  # type: ignore[attr-defined]
    handle = network.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


@pytest.fixture
async def http(make_app: MakeApp, fastsam_engine: Engine, fastsam_weights: Path) -> httpx.AsyncClient:
    """A FastSAM service on the session's loaded engine (a fresh cache per test)."""
    _, client = await make_app(fastsam_settings(fastsam_weights), engine=fastsam_engine)
    return client


async def test_the_service_loads_the_checkpoint_itself_in_the_background(
    make_app: MakeApp, fastsam_weights: Path
) -> None:
    _, http = await make_app(fastsam_settings(fastsam_weights), wait=False)
    report = await wait_until_settled(http)
    assert report.get("status", "healthy") == "healthy", report
    assert (report["engine"], report["device"]) == ("fastsam", "cpu")
    answer = await post(http, image=DATA, auto_detect=True)
    check_well_formed(answer)


async def test_points_labels_box_and_brush_give_well_formed_masks(
    http: httpx.AsyncClient, forward_passes: list[int]
) -> None:
    first = await post(http, image=DATA, auto_detect=True)
    found = check_well_formed(first)
    image_id = first["image_id"]
    x, y = inner_point(found)

    click = check_well_formed(await post(http, image_id=image_id, points=[[x, y]]))
    assert click[y, x] == 255

    far = (W - 1 - x, H - 1 - y)
    labelled = check_well_formed(await post(http, image_id=image_id, points=[[x, y], list(far)], point_labels=[1, 0]))
    assert labelled[y, x] == 255

    x0, y0, x1, y1 = first["bbox"]
    boxed = check_well_formed(await post(http, image_id=image_id, bbox=[x0, y0, x1, y1]))
    rows, cols = np.nonzero(boxed)
    assert cols.min() >= x0 and cols.max() < x1 and rows.min() >= y0 and rows.max() < y1

    stroke = cv2.erode(found, np.ones((3, 3), np.uint8))
    if not stroke.any():
        stroke = found
    brushed = check_well_formed(await post(http, image_id=image_id, mask=b64(png(stroke))))
    assert np.count_nonzero((brushed > 0) & (stroke > 0)) > 0

    grown = check_well_formed(await post(http, image_id=image_id, points=[[x, y]], border_adjustment=3))
    assert np.count_nonzero(grown) > np.count_nonzero(click)
    assert forward_passes == [1]


async def test_the_network_runs_once_for_two_clicks_on_the_same_picture(
    http: httpx.AsyncClient, forward_passes: list[int]
) -> None:
    first = await post(http, image=DATA, auto_detect=True)
    assert first["cached"] is False and len(forward_passes) == 1
    x, y = inner_point(check_well_formed(first))
    # The picture sent again (not only its image_id) is recognised by its content.
    second = await post(http, image=DATA, points=[[x, y]])
    assert second["cached"] is True and second["image_id"] == first["image_id"]
    assert check_well_formed(second)[y, x] == 255
    assert len(forward_passes) == 1


async def test_two_concurrent_first_clicks_run_the_network_once(
    http: httpx.AsyncClient, forward_passes: list[int]
) -> None:
    image, _ = disk_scene(3)
    data = b64(png(image))
    answers = await asyncio.gather(
        *(http.post("/api/smart-mask", json={"image": data, "auto_detect": True}) for _ in range(2))
    )
    assert [a.status_code for a in answers] == [200, 200]
    assert len(forward_passes) == 1


async def test_the_network_gets_the_picture_in_bgr_order(http: httpx.AsyncClient, fastsam_engine: Engine) -> None:
    model = fastsam_engine.model  # type: ignore[attr-defined]
    seen: list[np.ndarray] = []
    predict = model.predict

    def spy(source: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        seen.append(source.copy())
        return predict(source, *args, **kwargs)

    model.predict = spy
    try:
        image, _ = disk_scene(4)
        await post(http, image=b64(png(image)), auto_detect=True)
    finally:
        del model.predict
    assert len(seen) == 1
    assert np.array_equal(seen[0], image[:, :, ::-1])


async def test_a_click_on_nothing_is_a_422(make_app: MakeApp, fastsam_weights: Path) -> None:
    # With an impossible confidence the network keeps no candidate: nothing can be found.
    _, http = await make_app(fastsam_settings(fastsam_weights, fastsam_conf=1.0))
    response = await http.post("/api/smart-mask", json={"image": DATA, "points": [[10, 10]]})
    assert response.status_code == 422
    assert "nothing found" in response.json()["detail"]


async def test_model_type_must_name_fastsam_or_its_weights(http: httpx.AsyncClient, fastsam_weights: Path) -> None:
    for accepted in ("fastsam", "FastSAM", fastsam_weights.stem):
        await post(http, image=DATA, auto_detect=True, model_type=accepted)
    response = await http.post("/api/smart-mask", json={"image": DATA, "auto_detect": True, "model_type": "grabcut"})
    assert response.status_code == 422 and "model_type" in response.json()["detail"]


async def test_a_broken_checkpoint_makes_the_service_unhealthy(make_app: MakeApp, tmp_path: Path) -> None:
    broken = tmp_path / "FastSAM-broken.pt"
    broken.write_bytes(b"not a checkpoint")
    _, http = await make_app(fastsam_settings(broken))
    health = await http.get("/api/health")
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    response = await http.post("/api/smart-mask", json={"image": DATA, "auto_detect": True})
    assert response.status_code == 503 and "failed to load" in response.json()["detail"]


def test_rendered_candidates_equal_ultralytics_own_full_size_masks(
    fastsam_engine: Engine, fastsam_weights: Path
) -> None:
    from ultralytics.models.fastsam import FastSAM

    from retouch.segmentation.candidates import Candidates

    image, _ = disk_scene(5)
    candidates = fastsam_engine.prepare(image)
    assert isinstance(candidates, Candidates) and candidates.protos is not None
    reference = FastSAM(str(fastsam_weights)).predict(
        np.ascontiguousarray(image[:, :, ::-1]),
        retina_masks=True,
        imgsz=256,
        conf=0.001,
        iou=0.9,
        max_det=100,
        verbose=False,
    )[0]
    expected = reference.masks.data.cpu().numpy() > 0.5
    # ultralytics drops candidates whose mask is empty; the order is otherwise the same.
    rendered = [mask for mask in (candidates.protos.render([i]) for i in range(len(candidates))) if mask.any()]
    assert len(rendered) == len(expected) > 10
    for ours, theirs in zip(rendered, expected, strict=True):
        assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (300, 20)])
async def test_tiny_and_thin_pictures(http: httpx.AsyncClient, size: tuple[int, int]) -> None:
    width, height = size
    image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    for body in ({"points": [[0, 0]]}, {"bbox": [0, 0, width, height]}, {"auto_detect": True}):
        response = await http.post("/api/smart-mask", json={"image": b64(png(image)), **body})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert response_mask(response.json()).shape == (height, width)
