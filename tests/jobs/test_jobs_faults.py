"""The generation service goes away (SIGKILL of a real process mid-job, or not there at all), and
the data directory cannot take writes: jobs wait in their places, say so, and run once it is
back; nothing is accepted that cannot be stored."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from pathlib import Path

import httpx
from jobs_helpers import (
    JobsFactory,
    ServerThread,
    body,
    fake_runs,
    serve_subprocess,
    status_of,
    submit,
    wait_healthy,
    wait_status,
    wait_until,
)
from loopback import free_port

from retouch.jobs.app import create_app
from retouch.jobs.blobs import LocalBlobStore
from retouch.jobs.settings import JobsSettings

QUIET = {"RETOUCH_LOG_LEVEL": "WARNING"}


def _start_generation(port: int) -> subprocess.Popen[bytes]:
    gen = serve_subprocess(QUIET, port, factory="fake_generation:create_app")
    wait_healthy(f"http://127.0.0.1:{port}", gen)
    return gen


def _stop(gen: subprocess.Popen[bytes] | None) -> None:
    if gen is not None and gen.poll() is None:
        gen.kill()
        gen.wait(30)


def _waiting(url: str, task_id: str, because: str = "") -> bool:
    status = status_of(url, task_id)
    return (
        status["status"] == "queued"
        and status["stage"] == "waiting_for_engine"
        and because in (status["loading_message"] or "")
    )


def _health(url: str) -> dict[str, object]:
    data: dict[str, object] = httpx.get(f"{url}/api/health", timeout=10).json()
    return data


def test_a_killed_generation_service_is_waited_for_and_the_job_runs_again(jobs_server: JobsFactory) -> None:
    port = free_port()
    gen_url = f"http://127.0.0.1:{port}"
    gen: subprocess.Popen[bytes] | None = _start_generation(port)
    try:
        server = jobs_server(generation_service_url=gen_url, watchdog_s=10, max_attempts=3)
        task_id = submit(server.url, prompt="steps=200 delay=0.05")
        behind = submit(server.url)
        wait_until(lambda: any(int(r["steps_done"]) >= 2 for r in fake_runs(gen_url)["runs"]), what="the engine to run")
        assert gen is not None
        os.kill(gen.pid, signal.SIGKILL)
        gen.wait(30)
        # The lost run goes back to the queue in its place (first) and waits, saying why.
        wait_until(lambda: _waiting(server.url, task_id), what="the job to wait for the engine")
        status = status_of(server.url, task_id)
        assert status["queue_position"] == 1
        assert "waiting for the generation engine" in status["loading_message"]
        assert status_of(server.url, behind)["queue_position"] == 2
        health = _health(server.url)
        assert health["status"] == "degraded"
        assert "waiting for the generation engine" in str(health["detail"])

        gen = _start_generation(port)
        final = wait_status(server.url, task_id, "error", "done", timeout=60)
        assert final["status"] == "done", final
        assert wait_status(server.url, behind, "error", "done")["status"] == "done"
        # The second run of the job is the one that finished (the first was lost with the process).
        runs = {r["run_id"]: r for r in fake_runs(gen_url)["runs"]}
        assert runs[f"{task_id}.2"]["finished"] == "done"
        assert _health(server.url)["status"] == "healthy"
    finally:
        _stop(gen)


def test_jobs_submitted_while_generation_is_down_wait_and_run_in_order(jobs_server: JobsFactory) -> None:
    port = free_port()
    gen_url = f"http://127.0.0.1:{port}"
    server = jobs_server(generation_service_url=gen_url, engine_retry_max_s=1.0)
    # Accepted (and documented as such): the jobs wait for the engine instead of failing at once.
    task_ids = [submit(server.url) for _ in range(3)]
    wait_until(lambda: _waiting(server.url, task_ids[0]), what="the first job to wait for the engine")
    # Several retries later nothing failed, and positions are those of submission.
    wait_until(lambda: _health(server.url)["status"] == "degraded", what="jobs health to be degraded")
    positions = [status_of(server.url, task_id)["queue_position"] for task_id in task_ids]
    assert positions == [1, 2, 3]
    assert all(status_of(server.url, task_id)["status"] == "queued" for task_id in task_ids)
    gen = None
    try:
        gen = _start_generation(port)
        finals = [wait_status(server.url, task_id, "error", "done", timeout=60) for task_id in task_ids]
        assert [final["status"] for final in finals] == ["done"] * 3, finals
        started = [final["started_at"] for final in finals]
        assert started == sorted(started)
        # A run that never reached the engine used up no attempt: each job ran as its first run.
        run_ids = {r["run_id"] for r in fake_runs(gen_url)["runs"]}
        assert {f"{task_id}.1" for task_id in task_ids} <= run_ids
    finally:
        _stop(gen)


def test_a_run_lost_every_time_fails_after_max_attempts(jobs_server: JobsFactory, fake_gen: object) -> None:
    server = jobs_server(max_attempts=2, engine_retry_s=0.1)
    task_id = submit(server.url, prompt="drop")
    final = wait_status(server.url, task_id, "error", "done")
    assert final["error"] == (
        "generation worker lost: its event stream ended without a result (run 2 of 2; not retried again)"
    )
    runs = {r["run_id"] for r in fake_runs(fake_gen.url)["runs"]}  # type: ignore[attr-defined]
    assert {f"{task_id}.1", f"{task_id}.2"} <= runs
    assert f"{task_id}.3" not in runs


def test_a_full_data_directory_refuses_submissions_and_health_says_so(jobs_server: JobsFactory) -> None:
    # More free space than any disk has: the store counts as full.
    server = jobs_server(min_free_bytes=2**62)
    response = httpx.post(f"{server.url}/api/generate/async", json=body())
    assert response.status_code == 507
    assert response.headers["content-type"] == "application/problem+json"
    assert "is full" in response.json()["detail"]
    assert "RETOUCH_JOBS_MIN_FREE_BYTES" in response.json()["detail"]
    assert response.headers["retry-after"]
    health = httpx.get(f"{server.url}/api/health", timeout=10)
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert "is full" in health.json()["detail"]


def test_a_write_that_fails_at_submit_is_a_503_and_leaves_nothing(jobs_server: JobsFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = jobs_server(data_dir=data)
    blobs = data / "jobs" / "blobs"
    if blobs.is_dir():
        blobs.rmdir()  # empty: nothing was submitted yet
    # Where the request blobs go is not a directory: the write fails (as root, too).
    blobs.write_bytes(b"in the way")
    response = httpx.post(f"{server.url}/api/generate/async", json=body())
    assert response.status_code == 503, response.text
    assert response.json()["detail"].startswith(f"the data directory {data / 'jobs'} failed a write: ")
    # Nothing of the refused job is kept.
    listed = httpx.get(f"{server.url}/api/generate")
    assert listed.status_code == 200
    assert listed.json()["jobs"] == []
    # Once the store is back, submissions are accepted and run.
    blobs.unlink()
    task_id = submit(server.url)
    assert wait_status(server.url, task_id, "error", "done")["status"] == "done"


class _FullForResults(LocalBlobStore):
    """A blob store whose result writes fail with ENOSPC while ``full`` is set."""

    full = True

    async def put_file(self, key: str, path: Path) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        await super().put_file(key, path)


def test_a_result_that_cannot_be_stored_waits_for_the_store(tmp_path: Path, fake_gen: ServerThread) -> None:
    settings = JobsSettings(
        data_dir=tmp_path / "data",
        generation_service_url=fake_gen.url,
        log_json=False,
        log_level="WARNING",
        engine_retry_s=0.1,
        engine_retry_max_s=0.5,
    )
    blobs = _FullForResults(settings.jobs_dir / "blobs")
    server = ServerThread(create_app(settings, blobs=blobs)).start()
    try:
        task_id = submit(server.url)
        # The run's result could not be kept: the job is not failed, it waits (and runs again).
        # One read sees both (the store is retried every 0.1 s, so a second read may find it running).
        wait_until(lambda: _waiting(server.url, task_id, because="is full"), what="the job to wait for the store")
        blobs.full = False
        final = wait_status(server.url, task_id, "error", "done")
        assert final["status"] == "done", final
        assert httpx.get(f"{server.url}/api/generate/result-image/{task_id}").content.startswith(b"\x89PNG")
    finally:
        server.stop()
