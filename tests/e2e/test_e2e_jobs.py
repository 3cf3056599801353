"""The generate flow through the gateway on the real local stack (classic engine): submit, watch
the event stream, fetch the result in every format, resume a stream, idempotent submit."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import numpy as np
import pytest
from e2e_config import API_KEYS
from e2e_images import b64, decode, mask, png, scene
from PIL import Image, ImageFilter

from retouch.local import Stack
from retouch.sdk import Client, ConflictError, NotFoundError

pytestmark = pytest.mark.e2e

TERMINAL = {"done", "error", "cancelled"}
MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/webp": b"RIFF", "image/jpeg": b"\xff\xd8\xff"}


def removal_body() -> dict[str, Any]:
    return {"prompt": "", "task_type": "removal", "input_image": b64(png(scene())), "mask": b64(png(mask()))}


def read_events(url: str, task_id: str, last_event_id: str | None = None) -> list[dict[str, Any]]:
    """Every event of the job's SSE stream through the gateway, until the server ends it."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with httpx.stream("GET", f"{url}/api/generate/stream/{task_id}", headers=headers, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue  # heartbeat comment
            if not line:
                # An ``id:``-only block follows each data block (API.md); it names the event before.
                if set(current) == {"id"} and events and events[-1]["data"]["id"] == current["id"]:
                    events[-1]["id"] = current["id"]
                elif current:
                    events.append(current)
                current = {}
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "retry":
                continue  # reconnection advice, not an event
            if field == "data":
                current["data"] = json.loads(value)
            else:
                current[field] = value
    if current:
        events.append(current)
    return events


def big_removal_body() -> dict[str, Any]:
    """A picture large enough that the job is still running when the subscribers connect."""
    size = (scene().width * 12, scene().height * 12)
    picture = scene().resize(size, Image.Resampling.BICUBIC)
    return {
        "prompt": "",
        "task_type": "removal",
        "input_image": b64(png(picture)),
        "mask": b64(png(mask().resize(size, Image.Resampling.NEAREST))),
    }


def check_stream(events: list[dict[str, Any]]) -> None:
    """Ids on every event, strictly increasing; exactly one terminal event, and it is the last."""
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(set(ids)), "ids strictly increase"
    terminal = [event for event in events if event["data"]["type"] in TERMINAL]
    assert len(terminal) == 1 and terminal[0] is events[-1], "exactly one terminal event, and it ends the stream"
    assert all("image" not in event["data"] for event in events), "the image is not inside events"


def test_a_removal_job_streams_to_one_terminal_event_and_its_result_keeps_the_unmasked_pixels(
    stack: Stack, client: Client
) -> None:
    submitted = httpx.post(f"{stack.gateway_url}/api/generate/async", json=removal_body(), timeout=60)
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]
    assert submitted.json()["status"] == "queued"
    events = read_events(stack.gateway_url, task_id)
    check_stream(events)
    assert events[-1]["data"]["status"] == "done"

    result = client.jobs.result(task_id)
    assert (result.width, result.height) == scene().size
    before = np.asarray(scene(), dtype=np.int16)
    after = np.asarray(decode(bytes(result.image)).convert("RGB"), dtype=np.int16)
    # The service composites within a small band around the mask; everything beyond it is untouched.
    band = np.asarray(mask().filter(ImageFilter.MaxFilter(33))) > 0
    assert np.array_equal(after[~band], before[~band])
    inside = np.asarray(mask()) > 127
    assert np.abs(after[inside] - before[inside]).mean() > 20, "the object was removed"

    for fmt, content_type in (("png", "image/png"), ("webp", "image/webp"), ("jpeg", "image/jpeg")):
        response = httpx.get(f"{stack.gateway_url}/api/generate/result-image/{task_id}", params={"format": fmt})
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.content.startswith(MAGIC[content_type])
        assert decode(response.content).size == scene().size


def test_two_subscribers_see_the_same_events_and_a_resume_replays_nothing_twice(stack: Stack) -> None:
    submitted = httpx.post(f"{stack.gateway_url}/api/generate/async", json=big_removal_body(), timeout=60)
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]
    seen: list[list[dict[str, Any]]] = [[], []]
    threads = [
        threading.Thread(target=lambda i=i: seen[i].extend(read_events(stack.gateway_url, task_id))) for i in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for events in seen:
        check_stream(events)
    # Each starts with a snapshot of the job's state when it connected; after the later snapshot
    # both got the same events.
    start = max(int(events[0]["id"]) for events in seen)
    first, second = ([event for event in events if int(event["id"]) > start] for events in seen)
    assert first == second
    assert seen[0][-1]["data"]["status"] == seen[1][-1]["data"]["status"] == "done"

    everything = max(seen, key=len)
    cut = everything[0]["id"]
    rest = read_events(stack.gateway_url, task_id, last_event_id=cut)
    check_stream(rest)
    assert all(int(event["id"]) > int(cut) for event in rest), "nothing at or before Last-Event-ID again"
    assert rest[-1] == everything[-1]
    assert [event for event in everything if int(event["id"]) > int(cut)] == rest


def test_the_sdk_edit_reports_progress_and_returns_the_picture(client: Client) -> None:
    events: list[str] = []
    result = client.edit(scene(), task_type="removal", mask=mask(), on_progress=lambda event: events.append(event.type))
    assert result.status == "done"
    assert events[-1] == "done" and "processing" in events
    assert decode(bytes(result.image)).size == scene().size


def test_the_same_idempotency_key_gives_one_job(stack: Stack) -> None:
    headers = {"Idempotency-Key": "e2e-idempotent-1"}
    url = f"{stack.gateway_url}/api/generate/async"
    one = httpx.post(url, json=removal_body(), headers=headers, timeout=60)
    two = httpx.post(url, json=removal_body(), headers=headers, timeout=60)
    assert one.status_code == two.status_code == 202
    assert one.json()["task_id"] == two.json()["task_id"]


def test_the_synchronous_form_returns_the_result(stack: Stack) -> None:
    response = httpx.post(f"{stack.gateway_url}/api/generate", json=removal_body(), timeout=150)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "done" and (body["width"], body["height"]) == scene().size


def test_job_errors_through_the_gateway(stack: Stack, client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.jobs.get("no-such-task")
    done = client.edit(scene(), task_type="removal", mask=mask())
    with pytest.raises(ConflictError):
        client.jobs.cancel(done.task_id)
    assert client.jobs.result(done.task_id).status == "done", "a refused cancel keeps the result"
    missing_mask = {key: value for key, value in removal_body().items() if key != "mask"}
    response = httpx.post(f"{stack.gateway_url}/api/generate/async", json=missing_mask, timeout=60)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "mask" in response.json()["detail"]


def test_a_job_belongs_to_the_key_that_made_it(keyed_gateway: str) -> None:
    owner, other = API_KEYS[0], API_KEYS[1]
    submitted = httpx.post(
        f"{keyed_gateway}/api/generate/async",
        json=removal_body(),
        headers={"Authorization": f"Bearer {owner}"},
        timeout=60,
    )
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]
    mine = httpx.get(f"{keyed_gateway}/api/generate/status/{task_id}", headers={"Authorization": f"Bearer {owner}"})
    theirs = httpx.get(f"{keyed_gateway}/api/generate/status/{task_id}", headers={"Authorization": f"Bearer {other}"})
    assert mine.status_code == 200
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
