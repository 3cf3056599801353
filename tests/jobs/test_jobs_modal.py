"""The Modal seams, run against in-memory fakes of exactly the Modal calls they make (they cannot
run against Modal here). The fakes' signatures are checked against the installed ``modal``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import modal
import pytest
from jobs_helpers import ServerThread, body, png, submit, wait_status, wait_until
from modal_fakes import FakeDict, FakeQueue, FakeVolume, FakeWorker

import retouch.jobs.modal as jobs_modal
from retouch.jobs.app import create_app
from retouch.jobs.dispatch import DispatchError
from retouch.jobs.modal import ModalDictJobStore, ModalSpawnDispatcher, ModalVolumeBlobStore
from retouch.jobs.settings import JobsSettings
from retouch.jobs.state import Job
from retouch.jobs.webhooks_modal import ModalDictWebhookOutbox
from retouch.sdk.models.generation import (
    MODAL_CANCEL_DICT,
    MODAL_EVENTS_QUEUE,
    MODAL_GENERATION_APP,
    MODAL_WORKER_FUNCTION,
    RunEvent,
    RunRequest,
)


def _params(func: Any) -> list[str]:
    return [p for p in inspect.signature(func).parameters if p != "self"]


@pytest.mark.parametrize(
    ("real", "fake"),
    [
        (modal.Dict.put, FakeDict()._put),
        (modal.Dict.get, FakeDict()._get),
        (modal.Dict.pop, FakeDict()._pop),
        (modal.Dict.items, FakeDict()._items),
        (modal.Queue.get_many, FakeQueue()._get_many),
        (modal.Queue.clear, FakeQueue()._clear),
        (modal.Volume.remove_file, FakeVolume()._remove_file),
        (modal.Volume.read_file, FakeVolume()._read_file),
        (modal.Volume.batch_upload, FakeVolume()._batch_upload),
    ],
)
def test_the_fakes_take_the_parameters_modal_takes(real: Any, fake: Any) -> None:
    assert _params(fake) == _params(real)
    assert hasattr(real, "aio"), "the code calls the .aio form"


def test_queue_put_of_the_worker_side_matches_modal() -> None:
    assert _params(FakeQueue()._put)[:4] == _params(modal.Queue.put)[:4]


def job(task_id: str, seq: int, key: str | None = None, status: str = "queued") -> Job:
    return Job(
        task_id=task_id, owner="o", engine="default", seq=seq, created_at=1.0, idempotency_key=key, status=status
    )  # type: ignore[arg-type]


async def test_the_dict_store_keeps_records_and_claims_keys_atomically() -> None:
    fake = FakeDict()
    store = ModalDictJobStore(fake)
    await store.open()
    first = job("a", 2, key="k")
    assert await store.create(first) == (first, True)
    holder, created = await store.create(job("b", 3, key="k"))
    assert (holder.task_id, created) == ("a", False)
    assert await store.get("b") is None
    results = await asyncio.gather(*(store.create(job(f"r{i}", 10 + i, key="race")) for i in range(10)))
    assert sum(c for _, c in results) == 1 and len({h.task_id for h, _ in results}) == 1
    first.start(5.0)
    await store.save(first)
    assert (await store.get("a")).status == "processing"  # type: ignore[union-attr]
    await store.create(job("z", 1))
    assert [j.task_id for j in await store.active()][:2] == ["z", "a"]
    await store.close()


async def test_the_dict_store_waits_for_a_claimed_key_to_land() -> None:
    fake = FakeDict()
    await fake.put.aio("idem:o\nk", "late")
    store = ModalDictJobStore(fake)

    async def land() -> None:
        await asyncio.sleep(0.05)
        await store.save(job("late", 1, key="k"))

    lander = asyncio.ensure_future(land())
    holder, created = await store.create(job("b", 2, key="k"))
    await lander
    assert (holder.task_id, created) == ("late", False)
    impatient = ModalDictJobStore(fake, claim_wait_s=0.05)
    await fake.put.aio("idem:o\nghost", "nobody")
    with pytest.raises(RuntimeError, match="never stored"):
        await impatient.create(job("c", 3, key="ghost"))


async def test_the_dict_store_expires_old_finished_jobs_and_their_keys() -> None:
    fake = FakeDict()
    store = ModalDictJobStore(fake)
    old, recent = job("old", 1, key="k"), job("recent", 2)
    for record in (old, recent):
        await store.create(record)
    old.cancel(10.0)
    recent.cancel(50.0)
    await store.save(old)
    await store.save(recent)
    assert [j.task_id for j in await store.expire(20.0)] == ["old"]
    assert "job:old" not in fake.data and "idem:o\nk" not in fake.data and "job:recent" in fake.data


async def test_the_dispatcher_spawns_the_worker_and_relays_its_events() -> None:
    events, cancels = FakeQueue(), FakeDict()
    worker = FakeWorker(events, cancels)
    dispatcher = ModalSpawnDispatcher(worker, events, cancels, poll_s=0.05)
    request = RunRequest(prompt="steps=3", input_image=png(), task_type="white-balance", run_id="t.1")  # type: ignore[arg-type]
    seen: list[RunEvent] = []

    async def on_event(event: RunEvent) -> None:
        seen.append(event)

    await dispatcher.run(request, on_event)
    assert worker.spawned == [request]
    assert [type(e).__name__ for e in seen] == ["ProgressEvent"] * 4 + ["ResultEvent"]
    assert all(e.run_id == "t.1" for e in seen)
    assert events.cleared == ["t.1"], "the run's partition is cleaned up"
    await dispatcher.cancel("t.1")
    assert cancels.data == {"t.1": True}
    await dispatcher.aclose()


async def test_the_dispatcher_reports_a_worker_that_cannot_start_or_talks_nonsense() -> None:
    events, cancels = FakeQueue(), FakeDict()

    class Broken:
        class spawn:
            @staticmethod
            async def aio(payload: bytes) -> None:
                raise ConnectionError("modal is down")

    request = RunRequest(prompt="", input_image=png(), task_type="white-balance", run_id="t.1")  # type: ignore[arg-type]

    async def ignore(event: RunEvent) -> None:
        pass

    with pytest.raises(DispatchError, match="could not start the generation worker: modal is down") as caught:
        await ModalSpawnDispatcher(Broken(), events, cancels).run(request, ignore)
    assert caught.value.status == 503

    class Garbling:
        class spawn:
            @staticmethod
            async def aio(payload: bytes) -> None:
                await events.put.aio(b'{"type": "nonsense"}', partition="t.1")

    with pytest.raises(DispatchError, match="unreadable event"):
        await ModalSpawnDispatcher(Garbling(), events, cancels, poll_s=0.05).run(request, ignore)
    with pytest.raises(ValueError, match="run_id"):
        await ModalSpawnDispatcher(Garbling(), events, cancels).run(
            RunRequest(prompt="", input_image=png(), task_type="white-balance"),
            ignore,  # type: ignore[arg-type]
        )


async def test_the_volume_blob_store() -> None:
    volume = FakeVolume()
    blobs = ModalVolumeBlobStore(volume)
    await blobs.put("t1/result.png", b"0123456789abcdef")
    await blobs.put("t1/result.png", b"replaced")
    await blobs.put("t1/request.json", b"{}")
    assert await blobs.get("t1/result.png") == b"replaced"
    assert set(volume.files) == {"/t1/result.png", "/t1/request.json"}
    await blobs.delete("t1/request.json")
    await blobs.delete("t1/request.json")
    assert await blobs.get("t1/request.json") is None
    await blobs.delete_prefix("t1")
    await blobs.delete_prefix("t1")
    assert volume.files == {}
    with pytest.raises(ValueError):
        await blobs.put("../x", b"")


def test_from_name_uses_the_contract_names(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(kind: str) -> Any:
        def from_name(*args: Any, **kwargs: Any) -> str:
            calls.append((kind, args, kwargs))
            return kind

        return from_name

    for kind in ("Dict", "Queue", "Function", "Volume"):
        monkeypatch.setattr(getattr(jobs_modal.modal, kind), "from_name", recorder(kind))
    ModalSpawnDispatcher.from_name()
    ModalDictJobStore.from_name("retouch-jobs")
    ModalVolumeBlobStore.from_name("retouch-job-blobs")
    assert calls == [
        ("Function", (MODAL_GENERATION_APP, MODAL_WORKER_FUNCTION), {}),
        ("Queue", (MODAL_EVENTS_QUEUE,), {"create_if_missing": True}),
        ("Dict", (MODAL_CANCEL_DICT,), {"create_if_missing": True}),
        ("Dict", ("retouch-jobs",), {"create_if_missing": True}),
        ("Volume", ("retouch-job-blobs",), {"create_if_missing": True}),
    ]


class ModalWorld:
    """One set of fake Modal objects, shared by successive jobs services (as on Modal)."""

    def __init__(self) -> None:
        self.store, self.volume, self.events, self.cancels = FakeDict(), FakeVolume(), FakeQueue(), FakeDict()
        self.webhooks = FakeDict()
        self.worker = FakeWorker(self.events, self.cancels)

    def app(self, tmp_path: Path, **settings: Any) -> Any:
        return create_app(
            JobsSettings(data_dir=tmp_path, backend="modal", log_json=False, log_level="WARNING", **settings),
            store=ModalDictJobStore(self.store),
            blobs=ModalVolumeBlobStore(self.volume),
            dispatcher=ModalSpawnDispatcher(self.worker, self.events, self.cancels, poll_s=0.05),
            webhook_outbox=ModalDictWebhookOutbox(self.webhooks),
        )


@pytest.fixture
def world() -> ModalWorld:
    return ModalWorld()


@pytest.fixture
def modal_jobs(world: ModalWorld, tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(world.app(tmp_path)).start()
    yield server
    server.stop()


def test_a_job_runs_through_the_modal_seams(modal_jobs: ServerThread, world: ModalWorld) -> None:
    task_id = submit(modal_jobs.url, prompt="steps=3")
    assert wait_status(modal_jobs.url, task_id, "done", "error")["status"] == "done"
    image = httpx.get(f"{modal_jobs.url}/api/generate/result-image/{task_id}", params={"format": "webp"})
    assert image.headers["content-type"] == "image/webp" and image.content.startswith(b"RIFF")
    # The result is stored once, as an asset of the job's owner.
    result_asset = httpx.get(f"{modal_jobs.url}/api/generate/result/{task_id}").json()["image_asset"]
    assert f"/assets/{result_asset}/data" in world.volume.files
    assert f"job:{task_id}" in world.store.data
    assert [r.run_id for r in world.worker.spawned] == [f"{task_id}.1"]


def test_cancel_reaches_the_modal_worker(modal_jobs: ServerThread, world: ModalWorld) -> None:
    task_id = submit(modal_jobs.url, prompt="steps=200 delay=0.02")
    run_id = f"{task_id}.1"
    wait_until(lambda: world.worker.steps_done.get(run_id, 0) >= 2, what="the worker to take steps")
    response = httpx.post(f"{modal_jobs.url}/api/generate/async/cancel/{task_id}", timeout=30)
    assert response.json()["status"] == "cancelled"
    assert world.cancels.data[run_id] is True
    assert world.worker.steps_done[run_id] < 200


def test_idempotency_through_the_modal_store(modal_jobs: ServerThread) -> None:
    headers = {"Idempotency-Key": "same"}
    first = httpx.post(f"{modal_jobs.url}/api/generate/async", json=body(), headers=headers).json()
    second = httpx.post(f"{modal_jobs.url}/api/generate/async", json=body(), headers=headers).json()
    assert first["task_id"] == second["task_id"]


def test_a_new_container_takes_over_queued_jobs(world: ModalWorld, tmp_path: Path) -> None:
    first = ServerThread(world.app(tmp_path, max_running=1)).start()
    try:
        blocker = submit(first.url, prompt="steps=100000 delay=0.01")
        wait_status(first.url, blocker, "processing")
        waiting = submit(first.url, prompt="steps=2")
    finally:
        first.stop()
    second = ServerThread(world.app(tmp_path, max_running=1)).start()
    try:
        assert wait_status(second.url, blocker, "done", "error", "cancelled", "processing")["status"] in (
            "processing",
            "done",
        )
        httpx.post(f"{second.url}/api/generate/async/cancel/{blocker}", timeout=30)
        assert wait_status(second.url, waiting, "done", "error")["status"] == "done"
        assert world.cancels.data.get(f"{blocker}.1") is True, "the first container's run was told to stop"
        assert [r.run_id for r in world.worker.spawned][:2] == [f"{blocker}.1", f"{blocker}.2"]
    finally:
        second.stop()
