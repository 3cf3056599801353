"""Every bad input the service guards against is a 4xx problem+json before any model work."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from generation_helpers import box_mask, fast_settings, png, smooth_background
from PIL import Image

from retouch.generation.app import create_app

PICTURE = Image.fromarray(smooth_background(64, 48))
MASK = box_mask((64, 48), (20, 10, 40, 30))
REFERENCE = Image.new("RGB", (40, 40), (200, 40, 40))
REFERENCE_MASK = box_mask((40, 40), (10, 10, 30, 30))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": "",
        "input_image": png(PICTURE).b64(),
        "mask": png(MASK).b64(),
        "task_type": "removal",
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


BAD_INPUTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "non-image input": (_body(input_image=_b64(b"this is not a picture")), 422, "input_image"),
    "input not base64": (_body(input_image="%%%"), 422, "input_image"),
    "non-image mask": (_body(mask=_b64(b"GIF89a broken")), 422, "mask"),
    "mask of another size": (_body(mask=png(box_mask((32, 32), (0, 0, 16, 16))).b64()), 422, "mask"),
    "empty mask": (_body(mask=png(Image.new("L", (64, 48), 0)).b64()), 422, "mask"),
    "mask only 127 grey": (_body(mask=png(Image.new("L", (64, 48), 127)).b64()), 422, "mask"),
    "removal without mask": (_body(mask=None), 422, "mask"),
    "insertion without mask": (
        _body(
            task_type="insertion",
            mask=None,
            reference_image=png(REFERENCE).b64(),
            reference_mask_R=png(REFERENCE_MASK).b64(),
        ),
        422,
        "mask",
    ),
    "mask twice": (_body(conditional_images=[png(MASK).b64()]), 422, "mask"),
    "empty conditional mask": (
        _body(mask=None, conditional_images=[png(Image.new("L", (64, 48), 0)).b64()]),
        422,
        "conditional_images[0]",
    ),
    "reference mask without reference": (
        _body(task_type="insertion", reference_mask_R=png(REFERENCE_MASK).b64()),
        422,
        "reference_image",
    ),
    "empty reference mask": (
        _body(
            task_type="insertion",
            reference_image=png(REFERENCE).b64(),
            reference_mask_R=png(Image.new("L", (40, 40), 0)).b64(),
        ),
        422,
        "reference_mask_R",
    ),
    "reference on removal": (
        _body(reference_image=png(REFERENCE).b64(), reference_mask_R=png(REFERENCE_MASK).b64()),
        422,
        "reference_image",
    ),
    "insertion with neither reference nor prompt": (_body(task_type="insertion"), 422, "prompt"),
    "classic insertion from a prompt only": (_body(task_type="insertion", prompt="a red ball"), 422, "reference_image"),
    "classic with extra condition pictures": (
        _body(mask=None, conditional_images=[png(MASK).b64(), png(PICTURE).b64()]),
        422,
        "conditional_images",
    ),
    "0 steps": (_body(num_inference_steps=0), 422, "num_inference_steps"),
    "1000 steps": (_body(num_inference_steps=1000), 422, "num_inference_steps"),
    "unknown task": (_body(task_type="colorize"), 422, "task_type"),
    "no task": ({"prompt": "", "input_image": png(PICTURE).b64(), "mask": png(MASK).b64()}, 422, "task_type"),
    "no prompt": ({"input_image": png(PICTURE).b64(), "mask": png(MASK).b64(), "task_type": "removal"}, 422, "prompt"),
    "unknown engine": (_body(engine="stable-diffusion"), 422, "engine"),
    "qwen not served here": (_body(engine="qwen"), 422, "engine"),
    "bad run id": (_body(run_id="has spaces and /slashes"), 422, "run_id"),
    "negative seed": (_body(seed=-1), 422, "seed"),
    "unknown quality": (_body(input_quality="best"), 422, "input_quality"),
    "unknown mask tool": (_body(mask_tool_type="lasso"), 422, "mask_tool_type"),
}


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(fast_settings(max_image_side=1024))


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_bad_input_is_a_problem_before_any_run(app: Any, case: str) -> None:
    body, status, field = BAD_INPUTS[case]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://generation.test") as client:
        response = await client.post("/api/generation/run", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert isinstance(problem["detail"], str) and field in problem["detail"]
    assert len(app.state.runs) == 0  # nothing was started, nothing is left reserved
    assert app.state.runner.pending == 0


async def test_broken_json_is_400(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://generation.test") as client:
        response = await client.post(
            "/api/generation/run", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_picture_over_the_side_limit_is_413(app: Any) -> None:
    big = Image.new("RGB", (1100, 20), (10, 20, 30))
    body = _body(input_image=png(big).b64(), mask=png(box_mask((1100, 20), (0, 0, 10, 10))).b64())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://generation.test") as client:
        response = await client.post("/api/generation/run", json=body)
    assert response.status_code == 413
    assert "RETOUCH_MAX_IMAGE_SIDE" in response.json()["detail"]
