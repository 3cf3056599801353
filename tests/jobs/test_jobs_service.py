"""The job service in-process, with a scripted dispatcher: what the HTTP tests cannot easily
arrange (a result the worker stored itself, late and foreign events, recovery on one store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from jobs_helpers import mask_png, png

from retouch.jobs.blobs import LocalBlobStore
from retouch.jobs.dispatch import EventHandler
from retouch.jobs.service import JobService
from retouch.jobs.settings import JobsSettings
from retouch.jobs.store_sqlite import SqliteJobStore
from retouch.sdk.models.generation import GenerationRequest, ProgressEvent, ResultEvent, RunEvent, RunRequest

Script = Callable[[RunRequest], list[RunEvent]]


class ScriptedDispatcher:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.cancelled: list[str] = []

    async def run(self, request: RunRequest, on_event: EventHandler) -> None:
        for event in self.script(request):
            await on_event(event)

    async def cancel(self, run_id: str) -> None:
        self.cancelled.append(run_id)

    async def aclose(self) -> None:
        pass


def request() -> GenerationRequest:
    return GenerationRequest(prompt="", input_image=png(), task_type="removal", mask=mask_png())  # type: ignore[arg-type]


@pytest.fixture
def make_service(tmp_path: Path) -> Callable[[Script], AsyncIterator[JobService]]:
    async def make(script: Script) -> AsyncIterator[JobService]:
        settings = JobsSettings(data_dir=tmp_path, ttl_s=0.01)
        service = JobService(
            settings,
            SqliteJobStore(tmp_path / "jobs.sqlite3"),
            LocalBlobStore(tmp_path / "blobs"),
            ScriptedDispatcher(script),
        )
        await service.start()
        try:
            yield service
        finally:
            await service.stop()

    return make  # type: ignore[return-value]


async def test_a_result_the_worker_stored_itself_is_served_and_expires(
    make_service: Callable[[Script], AsyncIterator[JobService]], tmp_path: Path
) -> None:
    def script(run: RunRequest) -> list[RunEvent]:
        key = f"runs/{run.run_id}/result.png"
        (tmp_path / "blobs" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "blobs" / key).write_bytes(b"stored by the worker")
        return [ResultEvent(run_id=run.run_id or "", image=b"", width=32, height=24, image_blob=key)]  # type: ignore[arg-type]

    async for service in make_service(script):
        job, _ = await service.submit("o", request(), fingerprint="f")
        await service.wait(job.task_id, 10)
        done, image = await service.result("o", job.task_id)
        assert done.status == "done" and image == b"stored by the worker"
        assert done.result is not None and done.result.blob == f"runs/{job.task_id}.1/result.png"
        await asyncio.sleep(0.02)
        assert await service.expire_once() == 1
        assert not (tmp_path / "blobs" / "runs" / f"{job.task_id}.1" / "result.png").exists()


async def test_events_of_another_run_and_after_the_end_change_nothing(
    make_service: Callable[[Script], AsyncIterator[JobService]],
) -> None:
    def script(run: RunRequest) -> list[RunEvent]:
        run_id = run.run_id or ""
        return [
            ProgressEvent(run_id="someone-else", stage="denoising", current_step=9, total_steps=10, progress=0.9),
            ProgressEvent(run_id=run_id, stage="denoising", current_step=1, total_steps=2, progress=0.5),
            ResultEvent(run_id=run_id, image=png(), width=32, height=24),  # type: ignore[arg-type]
            ProgressEvent(run_id=run_id, stage="denoising", current_step=2, total_steps=2, progress=0.7),
        ]

    async for service in make_service(script):
        job, _ = await service.submit("o", request(), fingerprint="f")
        await service.wait(job.task_id, 10)
        done = await service.lookup("o", job.task_id)
        assert (done.status, done.current_step, done.total_steps, done.progress) == ("done", 1, 2, 1.0)
