"""Cancel: a queued job at once; a running one through its engine (which stops between steps);
a finished one is 409 and keeps its result."""

from __future__ import annotations

import json
import threading
import time

import httpx
from jobs_helpers import JobsFactory, ServerThread, fake_runs, read_sse, submit, wait_status, wait_until


def _run(fake_url: str, task_id: str) -> dict[str, object]:
    runs = [r for r in fake_runs(fake_url)["runs"] if r["run_id"].startswith(task_id)]
    return runs[0] if runs else {}


def test_cancel_of_a_running_job_stops_its_engine(jobs: ServerThread, fake_gen: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=100 delay=0.05")
    wait_until(lambda: int(_run(fake_gen.url, task_id).get("steps_done", 0)) >= 2, what="the engine to take steps")
    response = httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}", timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    run = _run(fake_gen.url, task_id)
    assert run["cancel_requested"] is True and run["finished"] == "cancelled"
    assert 2 <= int(run["steps_done"]) < 100, "the engine stopped early"  # type: ignore[call-overload]
    events = [b for b in read_sse(jobs.url, task_id) if "data" in b]
    assert len(events) == 1 and '"type":"cancelled"' in events[0]["data"]
    result = httpx.get(f"{jobs.url}/api/generate/result/{task_id}")
    assert result.status_code == 200 and result.headers["x-retouch-status"] == "cancelled"
    assert result.json()["status"] == "cancelled" and result.json()["image"] == ""
    image = httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["x-retouch-status"] == "cancelled"


def test_a_live_stream_outlasts_the_answer_of_the_cancel_that_ended_it(
    jobs: ServerThread, fake_gen: ServerThread
) -> None:
    # The seed client's order: POST cancel (JSON content type, no body), await its JSON answer,
    # only then stop reading. The stream must still be open when the answer comes.
    task_id = submit(jobs.url, prompt="steps=100 delay=0.05")
    wait_until(lambda: int(_run(fake_gen.url, task_id).get("steps_done", 0)) >= 2, what="the engine to take steps")
    stream_ended: list[float] = []
    saw: list[str] = []

    def read() -> None:
        with httpx.stream("GET", f"{jobs.url}/api/generate/stream/{task_id}", timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    saw.append(json.loads(line[5:])["status"])
        stream_ended.append(time.monotonic())

    reader = threading.Thread(target=read)
    reader.start()
    wait_until(lambda: bool(saw), what="the first event")
    answer = httpx.post(
        f"{jobs.url}/api/generate/async/cancel/{task_id}", headers={"Content-Type": "application/json"}, timeout=30
    )
    answered = time.monotonic()
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert not stream_ended, "the stream ended before the cancel was answered"
    reader.join(30)
    assert saw[-1] == "cancelled" and saw.count("cancelled") == 1
    assert stream_ended and stream_ended[0] >= answered


def test_cancel_of_a_queued_job_is_immediate(jobs_server: JobsFactory, fake_gen: ServerThread) -> None:
    server = jobs_server(max_running=1)
    blocker = submit(server.url, prompt="steps=200 delay=0.05")
    wait_status(server.url, blocker, "processing")
    queued = submit(server.url)
    response = httpx.post(f"{server.url}/api/generate/async/cancel/{queued}")
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "cancelled while queued"
    httpx.post(f"{server.url}/api/generate/async/cancel/{blocker}", timeout=30)
    assert _run(fake_gen.url, queued) == {}, "it never reached the engine"


def test_a_finished_job_cannot_be_cancelled_and_keeps_its_result(jobs: ServerThread) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    response = httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}")
    assert response.status_code == 409
    assert response.json()["detail"] == f"task {task_id} is already done; there is nothing to cancel"
    assert httpx.get(f"{jobs.url}/api/generate/result/{task_id}").status_code == 200
    assert httpx.get(f"{jobs.url}/api/generate/status/{task_id}").json()["status"] == "done"


def test_a_second_cancel_is_409(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=100 delay=0.05")
    wait_status(jobs.url, task_id, "processing")
    assert httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}", timeout=30).status_code == 200
    assert httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}").status_code == 409


def test_an_engine_that_never_confirms_is_cancelled_anyway(jobs_server: JobsFactory, fake_gen: ServerThread) -> None:
    server = jobs_server(cancel_wait_s=0.3, watchdog_s=60)
    task_id = submit(server.url, prompt="hang")
    wait_until(lambda: bool(_run(fake_gen.url, task_id)), what="the run to start")
    response = httpx.post(f"{server.url}/api/generate/async/cancel/{task_id}", timeout=30)
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "cancelled (the engine did not confirm in time)"
    assert _run(fake_gen.url, task_id)["cancel_requested"] is True
    assert server.app.state.jobs.queue.running_count() == 0, "its slot is free again"


def test_a_job_after_a_cancelled_one_still_runs(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1)
    first = submit(server.url, prompt="steps=100 delay=0.05")
    second = submit(server.url)
    wait_status(server.url, first, "processing")
    httpx.post(f"{server.url}/api/generate/async/cancel/{first}", timeout=30)
    assert wait_status(server.url, second, "done", "error")["status"] == "done"
