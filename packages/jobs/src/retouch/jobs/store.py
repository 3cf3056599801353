"""The ``JobStore`` seam: where job records live (SQLite locally, a ``modal.Dict`` on Modal)."""

from __future__ import annotations

from typing import Final, Protocol

import msgspec

from retouch.jobs.state import Job
from retouch.sdk import codec

__all__ = ["LEGACY_STATUSES", "JobStore", "decode_job", "encode_job"]


class JobStore(Protocol):
    """Durable job records. Every method is a coroutine and never blocks the event loop."""

    async def open(self) -> None:
        """Prepare the store (create tables, connect)."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def create(self, job: Job) -> tuple[Job, bool]:
        """Insert ``job`` and return ``(job, True)``; when ``job.idempotency_key`` is already used
        by the same owner, insert nothing and return ``(that job, False)``, atomically."""

    async def get(self, task_id: str) -> Job | None:
        """The job with ``task_id``, or ``None``."""

    async def save(self, job: Job) -> None:
        """Write ``job`` over its stored record (the caller serialises saves of one job)."""

    async def active(self) -> list[Job]:
        """Every queued or processing job, oldest first (by ``seq``)."""

    async def list_owned(self, owner: str, *, status: str | None, before_seq: int | None, limit: int) -> list[Job]:
        """At most ``limit`` of ``owner``'s jobs, newest first (descending ``seq``), only those with
        ``seq < before_seq`` when it is given, and only ``status`` ones when it is given."""

    async def delete(self, task_id: str) -> None:
        """Delete the record of ``task_id`` and free its idempotency key (a missing one is fine)."""

    async def expire(self, finished_before: float) -> list[Job]:
        """Delete finished jobs whose ``finished_at`` is before ``finished_before``; return them."""


def encode_job(job: Job) -> bytes:
    """The stored form of a job record."""
    return codec.encode(job)


#: Status words of records stored before the seed system's words were adopted.
LEGACY_STATUSES: Final = {"running": "processing", "succeeded": "done", "failed": "error"}


def decode_job(data: bytes) -> Job:
    """A job record from its stored form (a record stored with an old status word reads as the
    same state in the current words)."""
    try:
        return codec.decode(data, Job)
    except msgspec.ValidationError:
        raw = msgspec.json.decode(data)
        if not isinstance(raw, dict) or raw.get("status") not in LEGACY_STATUSES:
            raise
        raw["status"] = LEGACY_STATUSES[raw["status"]]
        return msgspec.convert(raw, Job)
