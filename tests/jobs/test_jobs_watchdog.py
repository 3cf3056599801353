"""The watchdog and lost workers: a silent worker, a stream that ends without a result, a
generation service that is not there."""

from __future__ import annotations

from jobs_helpers import JobsFactory, ServerThread, fake_runs, submit, wait_status, wait_until
from loopback import free_port


def test_a_silent_worker_is_declared_lost(jobs_server: JobsFactory, fake_gen: ServerThread) -> None:
    server = jobs_server(watchdog_seconds=0.4)
    task_id = submit(server.url, prompt="hang")
    final = wait_status(server.url, task_id, "error", "done", "cancelled")
    assert final["status"] == "error"
    assert final["error"].startswith("generation worker lost: nothing heard from it for")
    wait_until(lambda: f"{task_id}.1" in fake_runs(fake_gen.url)["cancels"], what="the lost run to be told to stop")


def test_a_stream_that_ends_without_a_result_fails_the_job(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="drop")
    final = wait_status(jobs.url, task_id, "error", "done")
    assert final["error"] == "generation worker lost: its event stream ended without a result"


def test_an_unreachable_generation_service_fails_the_job_clearly(jobs_server: JobsFactory) -> None:
    server = jobs_server(generation_service_url=f"http://127.0.0.1:{free_port()}")
    task_id = submit(server.url)
    final = wait_status(server.url, task_id, "error", "done")
    assert final["error"].startswith("the generation service is unreachable: POST ")


def test_a_slow_but_talking_worker_is_not_lost(jobs_server: JobsFactory) -> None:
    server = jobs_server(watchdog_seconds=0.5)
    task_id = submit(server.url, prompt="steps=8 delay=0.2")
    assert wait_status(server.url, task_id, "error", "done")["status"] == "done"
