"""The Modal implementations of the three seams (``backend = "modal"``, used by ``deploy/jobs.py``).

- :class:`ModalDictJobStore`: job records in a ``modal.Dict``; idempotency keys are claimed with
  the atomic ``put(..., skip_if_exists=True)``.
- :class:`ModalSpawnDispatcher`: ``modal.Function.from_name(MODAL_GENERATION_APP,
  MODAL_WORKER_FUNCTION).spawn(run_request_json)``; the worker puts each encoded ``RunEvent`` on
  the ``MODAL_EVENTS_QUEUE`` queue, partition ``run_id``, which is read here; cancel sets
  ``MODAL_CANCEL_DICT[run_id] = True``, which the worker polls between steps. No web request
  waits for a run.
- :class:`ModalVolumeBlobStore`: requests and results as files in a Modal Volume.

Only the calls named here are used (through their ``.aio`` forms); the unit tests run these
classes against in-memory fakes of exactly those calls. The jobs service must run as a single
container (its queue and running jobs are in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import modal
import modal.exception
import msgspec

from retouch.jobs.blobs import check_key
from retouch.jobs.dispatch import DispatchError, EventHandler
from retouch.jobs.state import Job
from retouch.jobs.store import decode_job, encode_job
from retouch.runtime.concurrency import run_sync
from retouch.sdk import codec
from retouch.sdk.models.generation import (
    MODAL_CANCEL_DICT,
    MODAL_EVENTS_QUEUE,
    MODAL_GENERATION_APP,
    MODAL_WORKER_FUNCTION,
    ErrorEvent,
    ResultEvent,
    RunEvent,
    RunRequest,
)

__all__ = ["ModalDictJobStore", "ModalSpawnDispatcher", "ModalVolumeBlobStore"]

log = logging.getLogger("retouch.jobs")

_JOB = "job:"
_IDEMPOTENCY = "idem:"
_ACTIVE = ("queued", "processing")
_NOT_FOUND = (FileNotFoundError, modal.exception.NotFoundError)


def _idempotency_entry(owner: str, key: str) -> str:
    # Owners and keys are printable ASCII, so a newline cannot be part of either.
    return f"{_IDEMPOTENCY}{owner}\n{key}"


class ModalDictJobStore:
    """Job records in a ``modal.Dict``: ``job:<task_id>`` -> encoded :class:`Job`, and
    ``idem:<owner>\\n<key>`` -> task id."""

    def __init__(self, jobs: Any, *, claim_wait_s: float = 5.0) -> None:
        self._dict = jobs
        self._claim_wait_s = claim_wait_s

    @classmethod
    def from_name(cls, name: str) -> ModalDictJobStore:
        """The store on the deployed Dict ``name`` (created if missing)."""
        return cls(modal.Dict.from_name(name, create_if_missing=True))

    async def open(self) -> None:
        """Nothing to prepare: the Dict exists once looked up."""

    async def close(self) -> None:
        """Nothing to release."""

    async def create(self, job: Job) -> tuple[Job, bool]:
        """Claim the idempotency key atomically, then write the record."""
        if job.idempotency_key is not None:
            entry = _idempotency_entry(job.owner, job.idempotency_key)
            claimed = await self._dict.put.aio(entry, job.task_id, skip_if_exists=True)
            if not claimed:
                return await self._claimed_by(entry), False
        await self._dict.put.aio(_JOB + job.task_id, encode_job(job))
        return job, True

    async def _claimed_by(self, entry: str) -> Job:
        holder = await self._dict.get.aio(entry)
        # The winner claims the key before it writes its record: give it a moment to land.
        deadline = asyncio.get_running_loop().time() + self._claim_wait_s
        while True:
            job = await self.get(holder) if holder is not None else None
            if job is not None:
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"idempotency key {entry!r} is held by a job that was never stored")
            await asyncio.sleep(0.05)

    async def get(self, task_id: str) -> Job | None:
        """The record of ``task_id``, or ``None``."""
        data = await self._dict.get.aio(_JOB + task_id)
        return None if data is None else decode_job(data)

    async def save(self, job: Job) -> None:
        """Overwrite the record."""
        await self._dict.put.aio(_JOB + job.task_id, encode_job(job))

    async def _jobs(self) -> list[Job]:
        jobs: list[Job] = []
        async for key, value in self._dict.items.aio():
            if isinstance(key, str) and key.startswith(_JOB):
                jobs.append(decode_job(value))
        return jobs

    async def active(self) -> list[Job]:
        """Queued and running jobs, oldest first (a scan: used once at start-up)."""
        jobs = [job for job in await self._jobs() if job.status in _ACTIVE]
        return sorted(jobs, key=lambda job: job.seq)

    async def expire(self, finished_before: float) -> list[Job]:
        """Delete finished jobs older than ``finished_before`` and their idempotency keys."""
        expired = [
            job for job in await self._jobs() if job.finished_at is not None and job.finished_at < finished_before
        ]
        for job in expired:
            await self._dict.pop.aio(_JOB + job.task_id, None)
            if job.idempotency_key is not None:
                await self._dict.pop.aio(_idempotency_entry(job.owner, job.idempotency_key), None)
        return expired

    async def list_owned(self, owner: str, *, status: str | None, before_seq: int | None, limit: int) -> list[Job]:
        """``owner``'s jobs, newest first (a scan of the Dict: it has no index)."""
        jobs = [
            job
            for job in await self._jobs()
            if job.owner == owner
            and (status is None or job.status == status)
            and (before_seq is None or job.seq < before_seq)
        ]
        return sorted(jobs, key=lambda job: job.seq, reverse=True)[:limit]

    async def delete(self, task_id: str) -> None:
        """Delete the record and its idempotency key."""
        job = await self.get(task_id)
        await self._dict.pop.aio(_JOB + task_id, None)
        if job is not None and job.idempotency_key is not None:
            await self._dict.pop.aio(_idempotency_entry(job.owner, job.idempotency_key), None)


class ModalSpawnDispatcher:
    """Runs jobs on the deployed generation worker function (see the module docstring)."""

    def __init__(self, function: Any, events: Any, cancels: Any, *, poll_s: float = 5.0) -> None:
        self._function = function
        self._events = events
        self._cancels = cancels
        self._poll_s = poll_s

    @classmethod
    def from_name(cls) -> ModalSpawnDispatcher:
        """The dispatcher for the deployed ``MODAL_GENERATION_APP`` and its channel objects."""
        return cls(
            modal.Function.from_name(MODAL_GENERATION_APP, MODAL_WORKER_FUNCTION),
            modal.Queue.from_name(MODAL_EVENTS_QUEUE, create_if_missing=True),
            modal.Dict.from_name(MODAL_CANCEL_DICT, create_if_missing=True),
        )

    async def run(self, request: RunRequest, on_event: EventHandler) -> None:
        """Spawn the worker and relay the events of its partition until the terminal one."""
        run_id = request.run_id
        if not run_id:
            raise ValueError("a dispatched run needs its run_id")
        try:
            await self._function.spawn.aio(codec.encode(request))
        except Exception as exc:
            raise DispatchError(f"could not start the generation worker: {exc}", 503) from exc
        try:
            while True:
                # Silence is the watchdog's business; this only keeps the wait short.
                items = await self._events.get_many.aio(64, block=True, timeout=self._poll_s, partition=run_id)
                for raw in items:
                    try:
                        event: RunEvent = codec.decoder(RunEvent).decode(raw)
                    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                        raise DispatchError(f"the generation worker sent an unreadable event: {exc}") from exc
                    await on_event(event)
                    if isinstance(event, ResultEvent | ErrorEvent):
                        return
        finally:
            with contextlib.suppress(Exception):
                await self._events.clear.aio(partition=run_id)

    async def cancel(self, run_id: str) -> None:
        """Set the worker's cancel flag for ``run_id``."""
        try:
            await self._cancels.put.aio(run_id, True)
        except Exception as exc:
            log.warning("could not cancel run %s: %s", run_id, exc)

    async def aclose(self) -> None:
        """Nothing to close."""


class ModalVolumeBlobStore:
    """Blobs as files in a Modal Volume, through its remote file API."""

    def __init__(self, volume: Any) -> None:
        self._volume = volume

    @classmethod
    def from_name(cls, name: str) -> ModalVolumeBlobStore:
        """The store on the Volume ``name`` (created if missing)."""
        return cls(modal.Volume.from_name(name, create_if_missing=True))

    async def put(self, key: str, data: bytes) -> None:
        """Upload ``data`` to ``/key`` (replacing a file there)."""
        path = "/" + check_key(key)
        async with self._volume.batch_upload.aio(force=True) as batch:
            batch.put_file(io.BytesIO(data), path)

    async def get(self, key: str) -> bytes | None:
        """The file ``/key``, or ``None``."""
        path = "/" + check_key(key)
        chunks: list[bytes] = []
        try:
            async for chunk in self._volume.read_file.aio(path):
                chunks.append(chunk)
        except _NOT_FOUND:
            return None
        return b"".join(chunks)

    async def delete(self, key: str) -> None:
        """Remove ``/key`` (a missing file is fine)."""
        with contextlib.suppress(*_NOT_FOUND):
            await self._volume.remove_file.aio("/" + check_key(key))

    async def delete_prefix(self, prefix: str) -> None:
        """Remove the directory ``/prefix``."""
        with contextlib.suppress(*_NOT_FOUND):
            await self._volume.remove_file.aio("/" + check_key(prefix), recursive=True)

    async def put_file(self, key: str, path: Path) -> None:
        """Upload the local file ``path`` to ``/key`` (streamed from disk), then remove it."""
        target = "/" + check_key(key)
        try:
            with path.open("rb") as src:
                async with self._volume.batch_upload.aio(force=True) as batch:
                    batch.put_file(src, target)
        finally:
            await run_sync(path.unlink, True)

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The file ``/key`` as the Volume streams it."""
        try:
            async for chunk in self._volume.read_file.aio("/" + check_key(key)):
                yield chunk
        except _NOT_FOUND as exc:
            raise FileNotFoundError(key) from exc

    async def names(self, prefix: str) -> list[str]:
        """The names directly under ``/prefix``."""
        try:
            entries = await self._volume.listdir.aio("/" + check_key(prefix))
        except _NOT_FOUND:
            return []
        return sorted(entry.path.rstrip("/").rsplit("/", 1)[-1] for entry in entries)
