"""Finished jobs and their results expire after the TTL; unfinished ones never do."""

from __future__ import annotations

from pathlib import Path

import httpx
from jobs_helpers import JobsFactory, submit, wait_status, wait_until


def test_finished_jobs_and_their_blobs_expire(jobs_server: JobsFactory, tmp_path: Path) -> None:
    server = jobs_server(ttl_s=0.3, expiry_interval_s=0.1)
    done = submit(server.url)
    wait_status(server.url, done, "done")
    running = submit(server.url, prompt="steps=200 delay=0.05")
    blob_dir = tmp_path / "data" / "jobs" / "blobs" / done
    wait_until(
        lambda: httpx.get(f"{server.url}/api/generate/status/{done}").status_code == 404, what="the job to expire"
    )
    assert httpx.get(f"{server.url}/api/generate/result-image/{done}").status_code == 404
    assert not blob_dir.exists()
    assert httpx.get(f"{server.url}/api/generate/status/{running}").json()["status"] == "processing"
    assert (tmp_path / "data" / "jobs" / "blobs" / running / "request.json").exists()
    httpx.post(f"{server.url}/api/generate/async/cancel/{running}", timeout=30)


def test_the_request_blob_goes_once_the_job_is_finished(jobs: object, tmp_path: Path) -> None:
    url = jobs.url  # type: ignore[attr-defined]
    task_id = submit(url)
    wait_status(url, task_id, "done")
    folder = tmp_path / "data" / "jobs" / "blobs" / task_id
    wait_until(lambda: not (folder / "request.json").exists(), what="the request blob to go")
    # The result is kept as an asset of the job's owner (``image_asset``).
    result = httpx.get(f"{url}/api/generate/result/{task_id}").json()
    assert (tmp_path / "data" / "jobs" / "blobs" / "assets" / result["image_asset"] / "data").exists()
