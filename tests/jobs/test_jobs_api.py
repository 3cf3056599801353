"""The /api/generate* routes end to end on a loopback jobs service with a fake generation service:
results and their formats, owners, 404/409/422 answers, the synchronous form, health."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, b64, body, mask_png, png, status_of, submit, wait_status
from PIL import Image

from retouch.sdk import codec
from retouch.sdk.models.common import Health

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}


def test_a_removal_job_runs_to_its_result(jobs: ServerThread) -> None:
    response = httpx.post(f"{jobs.url}/api/generate/async", json=body())
    assert response.status_code == 202
    submitted = response.json()
    assert set(submitted) == {"task_id", "status"}
    assert submitted["status"] == "queued"
    assert response.headers["location"] == f"/api/generate/status/{submitted['task_id']}"

    final = wait_status(jobs.url, submitted["task_id"], "done", "error", "cancelled")
    assert final["status"] == "done"
    assert final["progress"] == 1.0
    assert final["started_at"] and final["finished_at"] and final["created_at"]
    assert final["queue_position"] is None and final["error"] is None

    result = httpx.get(f"{jobs.url}/api/generate/result/{submitted['task_id']}").json()
    assert set(result) >= {"task_id", "status", "image", "width", "height", "seed", "timings"}
    assert (result["width"], result["height"]) == (32, 24)
    assert result["seed"] == 7
    image = Image.open(io.BytesIO(base64.b64decode(result["image"])))
    assert image.size == (32, 24) and image.getpixel((0, 0)) == (200, 60, 30)


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
def test_result_image_formats_match_their_content_type(jobs: ServerThread, fmt: str) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    response = httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"] == f"image/{fmt}"
    assert response.content.startswith(MAGIC[fmt])
    assert Image.open(io.BytesIO(response.content)).format == fmt.upper()


def test_result_image_defaults_to_png_and_takes_a_quality(jobs: ServerThread) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    default = httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}")
    assert default.headers["content-type"] == "image/png" and default.content.startswith(MAGIC["png"])
    low = httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}", params={"format": "jpeg", "quality": "5"})
    high = httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}", params={"format": "jpeg", "quality": "95"})
    assert low.status_code == high.status_code == 200
    assert low.content != high.content


@pytest.mark.parametrize(
    ("params", "field"),
    [({"format": "gif"}, "format"), ({"quality": "0"}, "quality"), ({"quality": "high"}, "quality")],
)
def test_result_image_refuses_bad_parameters(jobs: ServerThread, params: dict[str, str], field: str) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    response = httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/generate/status/{}"),
        ("GET", "/api/generate/result/{}"),
        ("GET", "/api/generate/result-image/{}"),
        ("GET", "/api/generate/stream/{}"),
        ("POST", "/api/generate/async/cancel/{}"),
    ],
)
def test_unknown_and_foreign_tasks_are_404(jobs: ServerThread, method: str, path: str) -> None:
    mine = submit(jobs.url, headers={"X-Retouch-Owner": "key-a"})
    unknown = httpx.request(method, jobs.url + path.format("0" * 32), headers={"X-Retouch-Owner": "key-a"})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no task {'0' * 32}"
    foreign = httpx.request(method, jobs.url + path.format(mine), headers={"X-Retouch-Owner": "key-b"})
    assert foreign.status_code == 404
    anonymous = httpx.request(method, jobs.url + path.format(mine))
    assert anonymous.status_code == 404


def test_the_owner_sees_its_own_task(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, headers={"X-Retouch-Owner": "key-a"})
    assert status_of(jobs.url, task_id, owner="key-a")["task_id"] == task_id


def test_a_malformed_owner_header_is_refused(jobs: ServerThread) -> None:
    response = httpx.post(f"{jobs.url}/api/generate/async", json=body(), headers={"X-Retouch-Owner": "a b"})
    assert response.status_code == 400
    assert "X-Retouch-Owner" in response.json()["detail"]


def test_result_of_an_unfinished_job_is_409(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=100 delay=0.05")
    for path in ("result", "result-image"):
        response = httpx.get(f"{jobs.url}/api/generate/{path}/{task_id}")
        assert response.status_code == 409
        assert "not ready" in response.json()["detail"]
    httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}")


def test_a_failed_job_has_no_result(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="fail")
    final = wait_status(jobs.url, task_id, "done", "error")
    assert final["status"] == "error"
    assert final["error"] == "generation failed: the fake engine exploded"
    response = httpx.get(f"{jobs.url}/api/generate/result/{task_id}")
    assert response.status_code == 409
    assert "failed: generation failed: the fake engine exploded" in response.json()["detail"]


def test_a_run_the_generation_service_refuses_fails_with_its_reason(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="refuse")
    final = wait_status(jobs.url, task_id, "done", "error")
    assert final["status"] == "error"
    assert "refused the run (422)" in final["error"] and "the fake refuses this run" in final["error"]


def _post(url: str, payload: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/api/generate/async", **({"json": payload} if payload is not None else {}), **kwargs)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({k: v for k, v in body().items() if k != "task_type"}, "task_type"),
        (body(task_type="erase"), "task_type"),
        ({k: v for k, v in body().items() if k != "input_image"}, "input_image"),
        ({k: v for k, v in body().items() if k != "prompt"}, "prompt"),
        (body(mask=None), "mask"),
        ({**body(task_type="insertion"), "mask": None}, "mask"),
        (body(input_image="not base64!"), "input_image"),
        (body(input_image=b64(b"plain text, not a picture")), "input_image"),
        (body(mask=b64(b"")), "mask"),
        (body(num_inference_steps=0), "num_inference_steps"),
        (body(num_inference_steps=101), "num_inference_steps"),
        (body(seed=-1), "seed"),
        (body(input_quality="huge"), "input_quality"),
        (body(reference_image=b64(png())), "reference_image"),
        (body(task_type="insertion", reference_mask_R=b64(png())), "reference_mask_R"),
        (
            body(task_type="insertion", prompt="a cat", mask=None, conditional_images=[b64(b"junk")]),
            "conditional_images[0]",
        ),
        (body(conditional_images=[b64(mask_png())]), "not both"),
        (body(mask=b64(mask_png(16, 16))), "mask is 16x16 but the image is 32x24"),
        (body(mask=b64(png(colour=(0, 0, 0)))), "mask is empty"),
        (body(task_type="insertion"), "prompt"),
        ([1, 2, 3], "body"),
    ],
)
def test_malformed_requests_are_422_naming_the_field(jobs: ServerThread, payload: Any, field: str) -> None:
    response = _post(jobs.url, payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


def test_broken_json_is_400_and_an_empty_body_422(jobs: ServerThread) -> None:
    assert _post(jobs.url, None, content=b"{not json").status_code == 400
    assert _post(jobs.url, None, content=b"").status_code == 422


def test_conditional_images_can_carry_the_mask(jobs: ServerThread) -> None:
    payload = body(mask=None)
    payload["conditional_images"] = [body()["mask"]]
    response = _post(jobs.url, payload)
    assert response.status_code == 202
    assert wait_status(jobs.url, response.json()["task_id"], "done", "error")["status"] == "done"


def test_white_balance_needs_no_mask_and_may_have_an_empty_prompt(jobs: ServerThread) -> None:
    response = _post(jobs.url, body(task_type="white-balance"))
    assert response.status_code == 202


def test_an_image_over_the_limits_is_413(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_image_side=16)
    response = _post(server.url, body())
    assert response.status_code == 413
    assert "input_image" in response.json()["detail"] and "RETOUCH_MAX_IMAGE_SIDE" in response.json()["detail"]


def test_an_engine_the_deployment_does_not_offer_is_422(jobs_server: JobsFactory) -> None:
    server = jobs_server(engines=["classic"])
    response = _post(server.url, body(engine="magic"))
    assert response.status_code == 422 and "engine" in response.json()["detail"]
    assert _post(server.url, body(engine="classic")).status_code == 202


def test_a_full_queue_answers_429(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1, max_queued=1)
    first = submit(server.url, prompt="steps=100 delay=0.05")
    wait_status(server.url, first, "processing")
    submit(server.url)
    response = _post(server.url, body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    httpx.post(f"{server.url}/api/generate/async/cancel/{first}")


def test_the_synchronous_form_returns_the_result(jobs: ServerThread) -> None:
    response = httpx.post(f"{jobs.url}/api/generate", json=body(), timeout=60)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "done" and (result["width"], result["height"]) == (32, 24)
    assert base64.b64decode(result["image"]).startswith(MAGIC["png"])


def test_the_synchronous_form_answers_202_when_its_bound_passes(jobs_server: JobsFactory) -> None:
    server = jobs_server(sync_wait_s=0.3)
    response = httpx.post(f"{server.url}/api/generate", json=body("steps=100 delay=0.05"), timeout=60)
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert response.json()["status"] in ("queued", "processing")
    assert response.headers["location"] == f"/api/generate/status/{task_id}"
    httpx.post(f"{server.url}/api/generate/async/cancel/{task_id}")


def test_the_synchronous_form_reports_a_failure(jobs: ServerThread) -> None:
    failed = httpx.post(f"{jobs.url}/api/generate", json=body("fail"), timeout=60)
    assert failed.status_code == 500
    assert "the fake engine exploded" in failed.json()["detail"]
    refused = httpx.post(f"{jobs.url}/api/generate", json=body("refuse"), timeout=60)
    assert refused.status_code == 422
    lost = httpx.post(f"{jobs.url}/api/generate", json=body("drop"), timeout=60)
    assert lost.status_code == 502 and "worker lost" in lost.json()["detail"]


def test_health_names_the_service_and_its_load(jobs: ServerThread) -> None:
    health = codec.decode(httpx.get(f"{jobs.url}/api/health").content, Health)
    assert health.service == "job_manager"
    assert health.status == "healthy"
    assert health.engine == "local"
    assert health.detail == "0 running, 0 queued"


def test_the_service_token_guards_every_route_but_health(jobs_server: JobsFactory) -> None:
    server = jobs_server(service_token="s3cret")
    assert _post(server.url, body()).status_code == 401
    assert httpx.get(f"{server.url}/api/generate/status/x").status_code == 401
    assert httpx.get(f"{server.url}/api/health").status_code == 200
    assert _post(server.url, body(), headers={"X-Service-Token": "s3cret"}).status_code == 202
