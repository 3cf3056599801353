"""Crash recovery with the jobs service as a real process: SIGKILL it with jobs queued and
running, start it again on the same data directory. Queued jobs run; running ones are re-queued
at the front (their old run told to stop) up to ``max_attempts`` runs, then failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jobs_helpers import (
    ServerThread,
    body,
    fake_runs,
    read_sse,
    serve_subprocess,
    status_of,
    submit,
    wait_healthy,
    wait_status,
    wait_until,
)
from loopback import free_port


class JobsProcess:
    def __init__(self, data_dir: Path, generation_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "RETOUCH_DATA_DIR": str(data_dir),
            "GENERATION_SERVICE_URL": generation_url,
            "RETOUCH_JOBS_MAX_RUNNING": "1",
            "RETOUCH_LOG_JSON": "false",
            "RETOUCH_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = serve_subprocess(self.env, self.port)
        wait_healthy(self.url, self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@pytest.fixture
def jobs_process(tmp_path: Path, fake_gen: ServerThread) -> Iterator[JobsProcess]:
    process = JobsProcess(tmp_path / "data", fake_gen.url)
    yield process
    process.stop()


def _runs_of(fake_url: str, task_id: str) -> list[dict[str, object]]:
    return [r for r in fake_runs(fake_url)["runs"] if str(r["run_id"]).startswith(task_id)]


def _first_event_id(url: str, task_id: str) -> int:
    with httpx.stream("GET", f"{url}/api/generate/stream/{task_id}", timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("id:"):
                return int(line[3:])
    raise AssertionError("no event")


def test_sigkill_with_jobs_queued_and_running_loses_nothing(jobs_process: JobsProcess, fake_gen: ServerThread) -> None:
    jobs_process.start()
    url = jobs_process.url
    long = submit(url, prompt="steps=30 delay=0.05", headers={"Idempotency-Key": "long-key"})
    queued = [submit(url, prompt=f"steps=2 n={i}") for i in range(2)]
    wait_until(lambda: any(int(r["steps_done"]) >= 2 for r in _runs_of(fake_gen.url, long)), what="the long run")  # type: ignore[call-overload]
    assert [status_of(url, t)["queue_position"] for t in queued] == [1, 2]
    seen = _first_event_id(url, long)

    jobs_process.kill()
    jobs_process.start()

    for task_id in [long, *queued]:
        assert wait_status(url, task_id, "done", "error", "cancelled")["status"] == "done"
    runs = fake_runs(fake_gen.url)
    order = [str(r["run_id"]) for r in runs["runs"]]
    assert order == [f"{long}.1", f"{long}.2", f"{queued[0]}.1", f"{queued[1]}.1"], "re-queued at the front, FIFO"
    assert f"{long}.1" in runs["cancels"], "the interrupted run was told to stop"

    again = httpx.post(
        f"{url}/api/generate/async",
        json=body("steps=30 delay=0.05"),
        headers={"Idempotency-Key": "long-key"},
    )
    assert again.json()["task_id"] == long, "idempotency keys survive the restart"

    resumed = [b for b in read_sse(url, long, headers={"Last-Event-ID": str(seen)}) if "data" in b]
    assert resumed and all(int(b["id"]) > seen for b in resumed)
    assert json.loads(resumed[-1]["data"])["type"] == "done"


def test_a_job_interrupted_too_often_fails(tmp_path: Path, fake_gen: ServerThread) -> None:
    process = JobsProcess(tmp_path / "data", fake_gen.url, RETOUCH_JOBS_MAX_ATTEMPTS="1")
    try:
        process.start()
        task_id = submit(process.url, prompt="steps=100 delay=0.05")
        wait_until(lambda: bool(_runs_of(fake_gen.url, task_id)), what="the run to start")
        process.kill()
        process.start()
        final = wait_status(process.url, task_id, "error", "done")
        assert final["error"] == "interrupted by 1 restarts of the jobs service; not retried again"
        assert len(_runs_of(fake_gen.url, task_id)) == 1
    finally:
        process.stop()


def test_a_cancel_requested_before_the_crash_is_honoured(tmp_path: Path, fake_gen: ServerThread) -> None:
    process = JobsProcess(tmp_path / "data", fake_gen.url, RETOUCH_JOBS_CANCEL_WAIT_SECONDS="30")
    try:
        process.start()
        task_id = submit(process.url, prompt="hang")
        wait_until(lambda: bool(_runs_of(fake_gen.url, task_id)), what="the run to start")
        # The engine never confirms, so the cancel is still pending when the process dies.
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{process.url}/api/generate/async/cancel/{task_id}", timeout=1.0)
        process.kill()
        process.start()
        final = wait_status(process.url, task_id, "cancelled", "error", "done")
        assert final["status"] == "cancelled"
    finally:
        process.stop()
