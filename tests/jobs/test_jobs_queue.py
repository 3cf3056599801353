"""Bounded running jobs per engine, FIFO order and true queue positions: the queue on its own,
and through the service."""

from __future__ import annotations

import httpx
import pytest
from jobs_helpers import JobsFactory, fake_runs, status_of, submit, wait_status, wait_until

from retouch.jobs.queue import JobQueue


def test_the_queue_runs_oldest_first_within_each_backend_limit() -> None:
    queue = JobQueue(lambda engine: {"a": 1, "b": 2}[engine])
    for seq, (task, engine) in enumerate(
        [("a1", "a"), ("a2", "a"), ("b1", "b"), ("a3", "a"), ("b2", "b"), ("b3", "b")]
    ):
        queue.push(task, engine, seq)
    assert [queue.position(t) for t in ("a1", "a2", "a3", "b1", "b2", "b3")] == [1, 2, 3, 1, 2, 3]
    started, moved = queue.pop_ready()
    assert sorted(started) == ["a1", "b1", "b2"]
    assert sorted(moved) == ["a2", "a3", "b3"]
    assert queue.position("a1") is None and queue.is_running("a1")
    assert [queue.position(t) for t in ("a2", "a3", "b3")] == [1, 2, 1]
    assert queue.pop_ready() == ([], [])
    queue.release("a1")
    assert queue.pop_ready() == (["a2"], ["a3"])
    assert (queue.running_count(), queue.waiting_count()) == (3, 2)


def test_removing_a_waiting_job_moves_the_ones_behind_it() -> None:
    queue = JobQueue(lambda engine: 1)
    for seq, task in enumerate(["t0", "t1", "t2", "t3"]):
        queue.push(task, "x", seq)
    queue.pop_ready()
    assert queue.remove("t1") == ["t2", "t3"]
    assert [queue.position(t) for t in ("t2", "t3")] == [1, 2]
    assert queue.remove("t0") == [], "a running job is not in the waiting line"
    assert queue.remove("nope") == []


def test_re_queued_jobs_go_back_to_their_place_by_seq() -> None:
    queue = JobQueue(lambda engine: 1)
    queue.push("new", "x", 10)
    queue.push("old", "x", 1)
    assert queue.position("old") == 1 and queue.position("new") == 2
    with pytest.raises(ValueError, match="already"):
        queue.push("old", "x", 1)


def test_the_service_runs_one_at_a_time_in_submission_order(jobs_server: JobsFactory, fake_gen: object) -> None:
    server = jobs_server(max_running=1)
    first = submit(server.url, prompt="steps=200 delay=0.05")
    wait_status(server.url, first, "processing")
    others = [submit(server.url, prompt=f"steps=1 order={i}") for i in range(3)]
    assert [status_of(server.url, t)["queue_position"] for t in others] == [1, 2, 3]
    assert all(status_of(server.url, t)["status"] == "queued" for t in others)

    cancelled = httpx.post(f"{server.url}/api/generate/async/cancel/{others[0]}").json()
    assert cancelled["status"] == "cancelled" and cancelled["queue_position"] is None
    assert [status_of(server.url, t)["queue_position"] for t in others[1:]] == [1, 2]

    httpx.post(f"{server.url}/api/generate/async/cancel/{first}")
    for task_id in others[1:]:
        assert wait_status(server.url, task_id, "done", "error")["status"] == "done"
    prompts = [run["prompt"] for run in fake_runs(fake_gen.url)["runs"]]  # type: ignore[attr-defined]
    assert prompts[1:] == ["steps=1 order=1", "steps=1 order=2"], "FIFO; the cancelled one never ran"


def test_each_backend_has_its_own_limit(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1, engine_limits={"wide": 2})
    narrow = [submit(server.url, prompt="steps=200 delay=0.05") for _ in range(2)]
    wide = [submit(server.url, prompt="steps=200 delay=0.05", engine="wide") for _ in range(3)]
    wait_until(lambda: status_of(server.url, wide[1])["status"] == "processing", what="two wide jobs running")
    assert [status_of(server.url, t)["status"] for t in narrow] == ["processing", "queued"]
    assert [status_of(server.url, t)["status"] for t in wide] == ["processing", "processing", "queued"]
    assert status_of(server.url, narrow[1])["queue_position"] == 1
    assert status_of(server.url, wide[2])["queue_position"] == 1
    for task_id in narrow + wide:
        httpx.post(f"{server.url}/api/generate/async/cancel/{task_id}")
