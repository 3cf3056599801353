"""The seed client's ``mask_image`` (API.md): its copy of the mask, ``""`` for none."""

from __future__ import annotations

import httpx
from jobs_helpers import ServerThread, b64, body, png, wait_status


def _post(url: str, payload: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{url}/api/generate/async", json=payload)


def test_mask_image_alone_is_the_mask(jobs: ServerThread) -> None:
    payload = body(prompt="steps=1")
    payload["mask_image"] = payload.pop("mask")
    response = _post(jobs.url, payload)
    assert response.status_code == 202, response.text
    assert wait_status(jobs.url, response.json()["task_id"], "done", "error")["status"] == "done"


def test_the_seed_clients_duplicate_is_accepted(jobs: ServerThread) -> None:
    payload = body(prompt="steps=1")
    mask = payload.pop("mask")
    payload.update(conditional_images=[mask], mask_image="data:image/png;base64," + str(mask))
    assert _post(jobs.url, payload).status_code == 202


def test_an_empty_mask_image_means_none(jobs: ServerThread) -> None:
    response = _post(jobs.url, body(task_type="white-balance", mask_image=""))
    assert response.status_code == 202, response.text
    removal = body(mask_image="")
    removal.pop("mask")
    refused = _post(jobs.url, removal)
    assert refused.status_code == 422 and "mask" in refused.json()["detail"]


def test_a_mask_image_that_differs_or_is_not_base64_is_refused(jobs: ServerThread) -> None:
    other = b64(png(colour=(255, 255, 255)))
    differs = _post(jobs.url, body(mask_image=other))
    assert differs.status_code == 422 and "mask_image" in differs.json()["detail"]
    junk = _post(jobs.url, body(mask_image="%%% not base64 %%%"))
    assert junk.status_code == 422 and "mask_image" in junk.json()["detail"]
