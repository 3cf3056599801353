"""``GET /api/generate`` (the caller's jobs, newest first, a page at a time) and
``DELETE /api/generate/{task_id}`` (cancel if needed, then delete everything of the job now).

Pages are ordered by the job's ``seq`` (its submission order, unique per job), and the cursor is
the ``seq`` of the last job of a page, opaque to clients: a job submitted while a client pages
never shifts the pages it has not read yet.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from typing import Final, get_args

from retouch.jobs.service import JobService
from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk.models.jobs import JobPage, JobStatusValue

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "decode_cursor", "delete_job", "encode_cursor", "list_jobs"]

log = logging.getLogger("retouch.jobs")

#: Jobs per page unless ``?limit=`` says otherwise.
DEFAULT_PAGE_SIZE: Final = 20
#: The most jobs one page holds.
MAX_PAGE_SIZE: Final = 100
_STATUSES: Final = frozenset(get_args(JobStatusValue))
_CURSOR_PREFIX = "s"


def encode_cursor(seq: int) -> str:
    """The opaque cursor that continues after the job with ``seq``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The ``seq`` inside ``cursor``; 422 naming ``cursor`` if it is not one this service made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not digits.isdigit() or len(digits) > 20:
        raise field_error("cursor", "is not a cursor from a previous page (use its next_cursor)")
    return int(digits)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise field_error("limit", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def _status(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in _STATUSES:
        raise field_error("status", f"must be one of {', '.join(sorted(_STATUSES))}")
    return raw


async def list_jobs(
    service: JobService, owner: str, *, status: str | None, limit: str | None, cursor: str | None
) -> JobPage:
    """One page of ``owner``'s jobs from the raw query values (each checked: 422 naming it)."""
    wanted = _status(status)
    size = _limit(limit)
    before = decode_cursor(cursor) if cursor else None
    # One more than asked tells whether another page follows without a second query.
    found = await service.store.list_owned(owner, status=wanted, before_seq=before, limit=size + 1)
    page, more = found[:size], len(found) > size
    views = []
    for stored in page:
        # An unfinished job's live record is ahead of the stored one (progress is not stored).
        job = service.active_job(stored.task_id) or stored
        views.append(await service.status_answer(job))
    next_cursor = encode_cursor(page[-1].seq) if more and page else None
    return JobPage(jobs=views, next_cursor=next_cursor)


async def delete_job(service: JobService, owner: str, task_id: str) -> None:
    """Cancel ``task_id`` if it is not finished, then delete its record, its request, its result,
    its event history and its pending webhook deliveries; 404 if ``owner`` has no such job."""
    job = await service.lookup(owner, task_id)
    if not job.terminal:
        # A job that finishes between the lookup and the cancel is simply deleted.
        with contextlib.suppress(ProblemError):
            job = await service.cancel(owner, task_id)
    await service.store.delete(task_id)
    await service.blobs.delete_prefix(task_id)
    result = job.result
    if result is not None and result.blob.startswith("assets/"):
        # A result kept as an asset of the owner: the owner lets go of it (its bytes go once no
        # other holder keeps them; the same picture may be another owner's too).
        with contextlib.suppress(ProblemError):
            await service.assets.delete(owner, result.blob.split("/")[1])
    elif result is not None and not result.blob.startswith(f"{task_id}/"):
        # A result the worker stored itself lives outside the job's prefix.
        await service.blobs.delete(result.blob)
    service.broker.forget(task_id)
    if service.webhooks is not None:
        await service.webhooks.outbox.forget(task_id)
    log.info("deleted job %s", task_id)
