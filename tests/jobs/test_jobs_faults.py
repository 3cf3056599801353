"""The generation service dies mid-job (SIGKILL of a real process): the job fails with a clear
detail, and once the service is back, new jobs run."""

from __future__ import annotations

import os
import signal

from jobs_helpers import (
    JobsFactory,
    fake_runs,
    serve_subprocess,
    submit,
    wait_healthy,
    wait_status,
    wait_until,
)
from loopback import free_port


def test_a_killed_generation_service_fails_the_job_and_the_stack_recovers(jobs_server: JobsFactory) -> None:
    port = free_port()
    gen_url = f"http://127.0.0.1:{port}"
    gen = serve_subprocess({"RETOUCH_LOG_LEVEL": "WARNING"}, port, factory="fake_generation:create_app")
    try:
        wait_healthy(gen_url, gen)
        server = jobs_server(generation_service_url=gen_url, watchdog_seconds=10)
        task_id = submit(server.url, prompt="steps=200 delay=0.05")
        wait_until(lambda: any(int(r["steps_done"]) >= 2 for r in fake_runs(gen_url)["runs"]), what="the engine to run")
        os.kill(gen.pid, signal.SIGKILL)
        gen.wait(30)
        final = wait_status(server.url, task_id, "error", "done", timeout=30)
        assert final["status"] == "error"
        assert final["error"].startswith("generation worker lost: ")

        gen = serve_subprocess({"RETOUCH_LOG_LEVEL": "WARNING"}, port, factory="fake_generation:create_app")
        wait_healthy(gen_url, gen)
        after = submit(server.url)
        assert wait_status(server.url, after, "error", "done")["status"] == "done"
    finally:
        gen.kill()
        gen.wait(30)
