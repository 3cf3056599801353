"""Every smart-mask shape the seed system's web client sends (CLIENTS.md) is answered, with
``model_used``; its ``model_type`` aliases resolve to the served engine, other names are a 422 that
lists the served names."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from seg_scenes import H, W, b64, disk_scene, png, response_mask

PICTURE, TRUTH = disk_scene(0)
RAW = b64(png(PICTURE))
DATA_URL = "data:image/png;base64," + RAW


def stroke_guidance() -> str:
    stroke = np.zeros((H, W), np.uint8)
    stroke[90:102, 85:135] = 255
    return b64(png(stroke))


def main_canvas(model_type: str, **prompt: Any) -> dict[str, Any]:
    return {
        "image": DATA_URL,
        "image_id": None,
        "border_adjustment": 0,
        "use_blur": False,
        "model_type": model_type,
        **prompt,
    }


SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("box", main_canvas("segmentation", bbox=[60.5, 50.25, 160.75, 142.5])),
    (
        "brush stroke",
        main_canvas(
            "segmentation",
            bbox=[80.0, 80.0, 140.0, 112.0],
            points=[[80.0 + 6.5 * i, 96.0 + (i % 3) * 1.5] for i in range(10)],
        ),
    ),
    ("click", main_canvas("birefnet", points=[[110.4, 96.7]])),
    (
        "reference box",
        {
            "image": RAW,
            "border_adjustment": 2,
            "model_type": "segmentation",
            "bbox": [60, 50, 161, 143],
            "auto_detect": False,
        },
    ),
    (
        "reference brush",
        {
            "image": RAW,
            "border_adjustment": 0,
            "model_type": "birefnet",
            "mask": stroke_guidance(),
            "auto_detect": False,
        },
    ),
    ("reference auto", {"image": RAW, "border_adjustment": 0, "model_type": "segmentation", "auto_detect": True}),
]


@pytest.mark.parametrize(("name", "body"), SHAPES, ids=[name for name, _ in SHAPES])
async def test_each_shape_of_the_seed_client_gets_a_mask(
    http: httpx.AsyncClient, name: str, body: dict[str, Any]
) -> None:
    response = await http.post("/api/smart-mask", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True and answer["request_id"]
    assert answer["model_used"] == answer["engine"] == "grabcut"
    mask = response_mask(answer) > 127
    assert mask.shape == (H, W) and mask.any()
    overlap = (mask & TRUTH).sum() / max(1, mask.sum())
    assert overlap > 0.5, f"{name}: the mask is mostly off the object ({overlap:.2f})"


@pytest.mark.parametrize("model_type", ["segmentation", "birefnet", "Segmentation", "grabcut"])
async def test_aliases_and_the_engine_name_are_accepted(http: httpx.AsyncClient, model_type: str) -> None:
    response = await http.post("/api/smart-mask", json={"image": RAW, "points": [[110, 96]], "model_type": model_type})
    assert response.status_code == 200, response.text
    assert response.json()["model_used"] == "grabcut"


async def test_an_unknown_model_type_is_a_422_listing_the_served_names(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/smart-mask", json={"image": RAW, "points": [[110, 96]], "model_type": "sam-h"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "model_type" in detail and "'sam-h'" in detail
    for name in ("'grabcut'", "'segmentation'", "'birefnet'"):
        assert name in detail
