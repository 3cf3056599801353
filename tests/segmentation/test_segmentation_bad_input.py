"""Every bad request the service guards against is a 4xx problem+json naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from seg_scenes import H, W, b64, disk_scene, png
from seg_support import MakeApp, grabcut_settings

IMAGE = b64(png(disk_scene(0)[0]))


def stroke_png(width: int = W, height: int = H, *, empty: bool = False) -> str:
    stroke = np.zeros((height, width), np.uint8)
    if not empty:
        stroke[height // 2 - 3 : height // 2 + 3, width // 3 : width // 2] = 255
    return b64(png(stroke))


async def problem(http: httpx.AsyncClient, body: Any, status: int) -> dict[str, Any]:
    response = await http.post("/api/smart-mask", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    document: dict[str, Any] = response.json()
    assert document["status"] == status and isinstance(document["detail"], str)
    return document


BAD_BODIES: list[tuple[str, dict[str, Any], int, str]] = [
    ("no prompt", {"image": IMAGE}, 422, "points"),
    ("auto_detect false is no prompt", {"image": IMAGE, "auto_detect": False, "points": []}, 422, "points"),
    ("point right of the picture", {"image": IMAGE, "points": [[W, 10]]}, 422, "points[0]"),
    ("point below the picture", {"image": IMAGE, "points": [[10, 10], [10, H + 5]]}, 422, "points[1]"),
    ("negative coordinate", {"image": IMAGE, "points": [[-1, 10]]}, 422, "points[0]"),
    ("point with one coordinate", {"image": IMAGE, "points": [[10]]}, 422, "points[0]"),
    ("point as a string", {"image": IMAGE, "points": ["10,10"]}, 422, "points[0]"),
    ("box with x_max < x_min", {"image": IMAGE, "bbox": [100, 10, 50, 60]}, 422, "bbox"),
    ("box with y_max = y_min", {"image": IMAGE, "bbox": [10, 60, 50, 60]}, 422, "bbox"),
    ("box outside the picture", {"image": IMAGE, "bbox": [10, 10, W + 40, 60]}, 422, "bbox"),
    ("box of three numbers", {"image": IMAGE, "bbox": [10, 10, 40]}, 422, "bbox"),
    ("10,000 points", {"image": IMAGE, "points": [[1, 1]] * 10_000}, 422, "RETOUCH_SEGMENTATION_MAX_POINTS"),
    ("unknown image_id", {"image_id": "0123456789abcdef", "points": [[1, 1]]}, 404, "image_id"),
    ("malformed image_id", {"image_id": "../etc/passwd", "points": [[1, 1]]}, 422, "image_id"),
    ("image_id of another picture", {"image": IMAGE, "image_id": "abc", "points": [[1, 1]]}, 422, "image_id"),
    ("neither image nor image_id", {"points": [[1, 1]]}, 422, "image"),
    ("non-image", {"image": b64(b"this is not a picture"), "points": [[1, 1]]}, 422, "image"),
    ("not base64", {"image": "!!!", "points": [[1, 1]]}, 422, "image"),
    ("labels without points", {"image": IMAGE, "bbox": [0, 0, 10, 10], "point_labels": [1]}, 422, "point_labels"),
    (
        "fewer labels than points",
        {"image": IMAGE, "points": [[1, 1], [2, 2]], "point_labels": [1]},
        422,
        "point_labels",
    ),
    ("label 2", {"image": IMAGE, "points": [[1, 1]], "point_labels": [2]}, 422, "point_labels[0]"),
    ("only exclude points", {"image": IMAGE, "points": [[1, 1]], "point_labels": [0]}, 422, "point_labels"),
    ("empty brush stroke", {"image": IMAGE, "mask": stroke_png(empty=True)}, 422, "mask"),
    ("brush stroke of another shape", {"image": IMAGE, "mask": stroke_png(100, 100)}, 422, "mask"),
    ("brush stroke not an image", {"image": IMAGE, "mask": b64(b"nope")}, 422, "mask"),
    ("unknown model_type", {"image": IMAGE, "points": [[5, 5]], "model_type": "sam-h"}, 422, "model_type"),
    (
        "border_adjustment past its range",
        {"image": IMAGE, "points": [[5, 5]], "border_adjustment": 5000},
        422,
        "border_adjustment",
    ),
    ("malformed request_id", {"image": IMAGE, "points": [[5, 5]], "request_id": "a b/c"}, 422, "request_id"),
    ("points not a list", {"image": IMAGE, "points": 5}, 422, "points"),
]


@pytest.mark.parametrize(("body", "status", "field"), [case[1:] for case in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
async def test_bad_request_is_a_problem_naming_the_field(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, field: str
) -> None:
    document = await problem(http, body, status)
    assert field in document["detail"]


async def test_too_many_points_names_the_configured_limit(make_app: MakeApp) -> None:
    _, http = await make_app(grabcut_settings(max_points=3))
    document = await problem(http, {"image": IMAGE, "points": [[1, 1]] * 4}, 422)
    assert "at most 3" in document["detail"]
    assert document["errors"][0]["field"] == "points"


async def test_picture_over_the_side_limit_is_413(make_app: MakeApp) -> None:
    _, http = await make_app(grabcut_settings(max_image_side=128))
    document = await problem(http, {"image": IMAGE, "points": [[1, 1]]}, 413)
    assert "image" in document["detail"] and "RETOUCH_MAX_IMAGE_SIDE" in document["detail"]


async def test_broken_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/smart-mask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_shrinking_a_mask_away_is_a_422_naming_border_adjustment(http: httpx.AsyncClient) -> None:
    body = {"image": IMAGE, "points": [[110, 96]], "border_adjustment": -200}
    document = await problem(http, body, 422)
    assert "border_adjustment" in document["detail"]


async def test_a_point_outside_is_refused_for_a_cached_picture_too(http: httpx.AsyncClient) -> None:
    first = await http.post("/api/smart-mask", json={"image": IMAGE, "points": [[110, 96]]})
    assert first.status_code == 200
    image_id = first.json()["image_id"]
    document = await problem(http, {"image_id": image_id, "points": [[W + 1, 0]]}, 422)
    assert "points[0]" in document["detail"]


async def test_model_type_naming_the_engine_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/smart-mask", json={"image": IMAGE, "points": [[110, 96]], "model_type": "GrabCut"})
    assert response.status_code == 200
