"""The watchdog and lost workers: a silent worker, a stream that ends without a result, a
generation service that is not there."""

from __future__ import annotations

from jobs_helpers import JobsFactory, ServerThread, fake_runs, status_of, submit, wait_status, wait_until
from loopback import free_port


def test_a_silent_worker_is_declared_lost(jobs_server: JobsFactory, fake_gen: ServerThread) -> None:
    server = jobs_server(watchdog_s=0.4)
    task_id = submit(server.url, prompt="hang")
    final = wait_status(server.url, task_id, "error", "done", "cancelled")
    assert final["status"] == "error"
    assert final["error"].startswith("generation worker lost: nothing heard from it for")
    # Lost runs are retried up to max_attempts (3) runs in all, each one told to stop.
    assert final["error"].endswith("(run 3 of 3; not retried again)")
    for attempt in (1, 2, 3):
        wait_until(
            lambda attempt=attempt: f"{task_id}.{attempt}" in fake_runs(fake_gen.url)["cancels"],
            what=f"lost run {attempt} to be told to stop",
        )


def test_a_stream_that_ends_without_a_result_fails_the_job_after_its_attempts(jobs_server: JobsFactory) -> None:
    server = jobs_server(engine_retry_s=0.1)
    task_id = submit(server.url, prompt="drop")
    final = wait_status(server.url, task_id, "error", "done")
    assert final["error"] == (
        "generation worker lost: its event stream ended without a result (run 3 of 3; not retried again)"
    )


def test_an_unreachable_generation_service_leaves_the_job_waiting_and_says_why(jobs_server: JobsFactory) -> None:
    server = jobs_server(generation_service_url=f"http://127.0.0.1:{free_port()}")
    task_id = submit(server.url)
    wait_until(lambda: status_of(server.url, task_id)["stage"] == "waiting_for_engine", what="the job to wait")
    status = status_of(server.url, task_id)
    assert status["status"] == "queued"
    assert status["queue_position"] == 1
    assert status["loading_message"].startswith(
        "waiting for the generation engine: the generation service is unreachable: POST "
    )


def test_a_slow_but_talking_worker_is_not_lost(jobs_server: JobsFactory) -> None:
    server = jobs_server(watchdog_s=0.5)
    task_id = submit(server.url, prompt="steps=8 delay=0.2")
    assert wait_status(server.url, task_id, "error", "done")["status"] == "done"
