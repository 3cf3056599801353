"""Progress and cancel as the seed system's web client sees them, on a multi-step engine (the tiny
qwen pipeline): its parser reads ``processing`` events with step counts, and its cancel sequence
(POST cancel, await the JSON answer, only then stop reading; fetch the results if the stream had
ended first) ends as a cancellation, with no 409 on the routes it calls next."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PIL import Image, ImageDraw
from seed_client import KNOWN_STATUSES, SeedClient, StreamReading, b64, generation_body, letterbox, png, rgba_mask
from skimage import data as photos

from retouch.local import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PICTURE = Image.fromarray(photos.coffee())


def removal_body() -> dict[str, Any]:
    square, box = letterbox(PICTURE)
    mask = Image.new("L", square.size, 0)
    ImageDraw.Draw(mask).ellipse([box[0] + 200, box[1] + 150, box[0] + 360, box[1] + 290], fill=255)
    return generation_body("removal", b64(png(square)), prompt="remove the cup", mask=rgba_mask(mask))


@pytest.fixture
def client(qwen_stack: Stack) -> Any:
    seed = SeedClient(qwen_stack.gateway_url)
    yield seed
    seed.close()


def test_processing_events_carry_step_counts(client: SeedClient) -> None:
    _, reading, image, result = client.edit(removal_body())
    assert set(reading.statuses) <= KNOWN_STATUSES and reading.statuses[-1] == "done"
    steps = [line for line in reading.progress_lines() if line.startswith("step ")]
    assert steps, f"no 'step n/total' shown: {reading.events}"
    assert steps[-1] == "step 15/15" and len(set(steps)) >= 3, steps
    totals = {event["total_steps"] for event in reading.events if event.get("current_step") is not None}
    assert totals == {15}
    assert image.status_code == 200 and result.status_code == 200
    assert result.json()["model_used"] == "qwen"


def test_model_loading_says_so(client: SeedClient) -> None:
    task_id = client.submit(removal_body())
    reading = client.read_stream(task_id, StreamReading())
    loading = [event for event in reading.events if event.get("stage") == "loading_model"]
    assert loading, "a run starts by saying it loads the model"
    assert all(event["status"] == "processing" and event["loading_message"] for event in loading)
    assert all(not event.get("loading_message") for event in reading.events if event.get("stage") == "denoising")


def test_cancel_mid_run_ends_as_a_cancellation(client: SeedClient) -> None:
    task_id = client.submit(removal_body())
    reading = StreamReading()
    started = threading.Event()

    def watch(event: dict[str, Any]) -> None:
        if event.get("status") == "processing" and (event.get("current_step") or 0) >= 2:
            started.set()

    reader = threading.Thread(target=client.read_stream, args=(task_id, reading, watch))
    reader.start()
    assert started.wait(120), f"the run never got to step 2: {reading.statuses}"
    # The client's cancel: await the JSON answer, and only then stop its reader.
    answer = client.cancel(task_id)
    stream_ended_first = reading.finished.is_set()
    reading.aborted = True
    reader.join(60)
    assert answer["_http_status"] == 200 and answer["status"] == "cancelled"
    assert reading.statuses.count("cancelled") == 1 and "done" not in reading.statuses
    assert not stream_ended_first, "the stream ended before the cancel was answered"
    # Had it ended first, the client would fetch the results next: neither may be a 409.
    image, result = client.results(task_id)
    assert image.status_code == 200 and result.status_code == 200
    assert result.json()["status"] == "cancelled"
    final = client.http.get(f"/api/generate/status/{task_id}").json()
    assert final["status"] == "cancelled" and final["current_step"] < 15, "the engine stopped early"
