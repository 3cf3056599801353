"""The event stream of a job (API.md): ids on every event, heartbeats, exactly one terminal event
and then the end, many subscribers seeing the same events, ``Last-Event-ID`` resume."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
from jobs_helpers import JobsFactory, ServerThread, raw_sse, read_sse, submit, wait_status, wait_until

TERMINAL = {"done", "error", "cancelled"}


def events_of(blocks: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """The ``(id, payload)`` of each event block (comments and ``retry:`` left out)."""
    return [(int(b["id"]), json.loads(b["data"])) for b in blocks if "data" in b]


def test_every_event_block_starts_with_data_and_holds_only_the_json(jobs: ServerThread) -> None:
    # The seed client's parser (CLIENTS.md): split at blank lines, keep blocks that start with
    # ``data:``, JSON.parse the rest. Its id comes in an ``id:``-only block right after it.
    task_id = submit(jobs.url, prompt="steps=4 delay=0.05")
    blocks = [block.strip() for block in raw_sse(jobs.url, task_id).decode().split("\n\n") if block.strip()]
    data_blocks = [i for i, block in enumerate(blocks) if block.startswith("data:")]
    assert len(data_blocks) >= 3
    for i in data_blocks:
        payload = json.loads(blocks[i].removeprefix("data:").lstrip(" "))
        assert blocks[i + 1] == f"id: {payload['id']}", "an id-only block names the event just sent"
    others = [block for i, block in enumerate(blocks) if i not in data_blocks and i - 1 not in data_blocks]
    assert all(block.startswith((":", "retry:")) for block in others), others
    assert json.loads(blocks[data_blocks[-1]].removeprefix("data:"))["status"] == "done"


def test_every_event_has_an_id_and_the_stream_ends_after_one_terminal_event(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=10 delay=0.1")
    blocks = read_sse(jobs.url, task_id)
    data_blocks = [b for b in blocks if "data" in b]
    assert data_blocks and all("id" in b for b in data_blocks)
    events = events_of(blocks)
    ids = [event_id for event_id, _ in events]
    assert ids == sorted(set(ids)), "ids increase strictly"
    terminal = [payload for _, payload in events if payload["type"] in TERMINAL]
    assert len(terminal) == 1 and events[-1][1] is terminal[0]
    assert terminal[0]["status"] == "done" and terminal[0]["progress"] == 1.0
    assert all(payload["id"] == str(event_id) for event_id, payload in events)
    assert all("image" not in payload for _, payload in events)
    steps = [p["current_step"] for _, p in events if p["type"] == "progress" and p["stage"] == "denoising"]
    assert steps == sorted(steps) and steps[-1] == 10


def test_a_stream_follows_the_job_from_the_queue_to_its_end(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1)
    blocker = submit(server.url, prompt="steps=200 delay=0.05")
    wait_status(server.url, blocker, "processing")
    task_id = submit(server.url, prompt="steps=3")
    collected: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: collected.append(read_sse(server.url, task_id)))
    reader.start()
    service = server.app.state.jobs
    wait_until(lambda: service.broker.subscriber_count() == 1, what="the subscriber")
    httpx.post(f"{server.url}/api/generate/async/cancel/{blocker}")
    reader.join(30)
    types = [payload["type"] for _, payload in events_of(collected[0])]
    first = events_of(collected[0])[0][1]
    assert first["status"] == "queued" and first["queue_position"] == 1
    assert types[0] == "queued" and "processing" in types and "progress" in types and types[-1] == "done"
    assert types.index("processing") < types.index("progress")


def test_heartbeat_comments_keep_an_idle_stream_alive(jobs_server: JobsFactory) -> None:
    server = jobs_server(heartbeat_s=0.1)
    task_id = submit(server.url, prompt="steps=3 delay=0.4")
    blocks = read_sse(server.url, task_id)
    assert {"comment": "heartbeat"} in blocks
    assert events_of(blocks)[-1][1]["type"] == "done"


def test_two_subscribers_see_the_same_events(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1)
    blocker = submit(server.url, prompt="steps=200 delay=0.05")
    wait_status(server.url, blocker, "processing")
    task_id = submit(server.url, prompt="steps=5 delay=0.02")
    results: dict[int, list[dict[str, Any]]] = {}
    readers = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, read_sse(server.url, task_id))) for i in range(2)
    ]
    for reader in readers:
        reader.start()
    service = server.app.state.jobs
    wait_until(lambda: service.broker.subscriber_count() == 2, what="both subscribers")
    httpx.post(f"{server.url}/api/generate/async/cancel/{blocker}")
    for reader in readers:
        reader.join(30)
    first, second = events_of(results[0]), events_of(results[1])
    assert first == second
    assert first[-1][1]["type"] == "done" and len(first) >= 8


def test_last_event_id_resumes_without_repeating_anything(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1)
    blocker = submit(server.url, prompt="steps=200 delay=0.05")
    wait_status(server.url, blocker, "processing")
    task_id = submit(server.url, prompt="steps=6 delay=0.1")
    # Read the first events live (from the queued state on), then drop the connection.
    head: list[tuple[int, dict[str, Any]]] = []
    last_id = ""  # as the SSE specification keeps it: across blocks, set by ``id:`` lines
    with httpx.stream("GET", f"{server.url}/api/generate/stream/{task_id}", timeout=30) as response:
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                last_id = block.get("id", last_id)
                if "data" in block:
                    payload = json.loads(block["data"])
                    head.append((int(payload["id"]), payload))
                    if len(head) == 1:
                        httpx.post(f"{server.url}/api/generate/async/cancel/{blocker}")
                block = {}
                if len(head) == 4 and last_id == head[-1][1]["id"]:
                    break
                continue
            name, _, value = line.partition(":")
            block[name] = value.strip()
    assert head[0][1]["type"] == "queued"
    assert head[-1][1]["type"] not in TERMINAL
    tail = events_of(read_sse(server.url, task_id, headers={"Last-Event-ID": str(head[-1][0])}))
    assert tail, "the rest of the events"
    ids = [i for i, _ in head + tail]
    assert ids == sorted(set(ids)), "nothing twice, nothing out of order"
    assert tail[-1][1]["type"] == "done"
    steps = [p["current_step"] for _, p in head + tail if p["type"] == "progress" and p["stage"] == "denoising"]
    assert steps == list(range(1, 7)), "while the history lasts, resume replays every later event"


def test_resume_after_the_terminal_event_sends_nothing(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=10 delay=0.1")
    full = events_of(read_sse(jobs.url, task_id))
    last_id = full[-1][0]
    again = read_sse(jobs.url, task_id, headers={"Last-Event-ID": str(last_id)})
    assert events_of(again) == []
    assert len(full) >= 4
    middle = events_of(read_sse(jobs.url, task_id, headers={"Last-Event-ID": str(full[1][0])}))
    assert middle == full[2:], "a finished job's history still serves exact resumes"


def test_a_finished_job_streams_its_final_state_once(jobs: ServerThread) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    events = events_of(read_sse(jobs.url, task_id))
    assert len(events) == 1 and events[0][1]["type"] == "done"


def test_a_last_event_id_that_is_not_ours_starts_from_the_current_state(jobs: ServerThread) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    for bogus in ("abc", "-5", ""):
        events = events_of(read_sse(jobs.url, task_id, headers={"Last-Event-ID": bogus}))
        assert [p["type"] for _, p in events] == ["done"]


def test_the_query_parameter_works_like_the_header(jobs: ServerThread) -> None:
    task_id = submit(jobs.url)
    full = events_of(read_sse(jobs.url, task_id))
    response = httpx.get(f"{jobs.url}/api/generate/stream/{task_id}", params={"last_event_id": str(full[-1][0])})
    assert "data:" not in response.text


def test_a_client_that_leaves_is_unsubscribed(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=200 delay=0.05")
    service = jobs.app.state.jobs
    with httpx.stream("GET", f"{jobs.url}/api/generate/stream/{task_id}", timeout=30) as response:
        # Keep the line iterator alive: dropping it would close the connection there and then.
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data:"):
                break
        assert service.broker.subscriber_count() == 1
    wait_until(lambda: service.broker.subscriber_count() == 0, what="the subscription to go")
    httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}", timeout=30)
