"""The ``/api/generate*`` routes of API.md.

The caller's identity comes from ``X-Retouch-Owner``, which only the gateway sets (the jobs
service is reached with the service token only); without it, jobs belong to ``anonymous``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from retouch.jobs.events import HEARTBEAT, Frame
from retouch.jobs.listing import delete_job, list_jobs
from retouch.jobs.results import CANCELLED_IMAGE, cancelled_result, job_result
from retouch.jobs.service import JobService, body_hash
from retouch.jobs.state import Job
from retouch.runtime.concurrency import run_sync
from retouch.runtime.http import StructResponse, decode_struct
from retouch.runtime.images import CONTENT_TYPES, encode_image, open_image
from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.seed_fields import with_mask_image
from retouch.sdk.models.generation import GenerationRequest
from retouch.sdk.models.jobs import IDEMPOTENCY_HEADER, OWNER_HEADER, JobSubmitted

__all__ = ["ANONYMOUS", "routes"]

#: Owner of jobs submitted without ``X-Retouch-Owner`` (no API keys configured).
ANONYMOUS = "anonymous"

_OWNER = re.compile(r"^[\x21-\x7e]{1,256}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
_FORMATS = {"png": "png", "webp": "webp", "jpeg": "jpeg", "jpg": "jpeg"}
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
#: Marks the answers of the result routes for a cancelled job (200, no picture).
_CANCELLED = {"X-Retouch-Status": "cancelled"}
#: Tells EventSource clients how soon to reconnect after a dropped stream.
_RETRY = b"retry: 2000\n\n"


def owner_of(request: Request) -> str:
    """The caller's identity from ``X-Retouch-Owner`` (400 if it is malformed)."""
    owner = request.headers.get(OWNER_HEADER)
    if owner is None:
        return ANONYMOUS
    if not _OWNER.match(owner):
        raise ProblemError(400, f"{OWNER_HEADER} must be 1-256 visible ASCII characters")
    return owner


def idempotency_key_of(request: Request) -> str | None:
    """The ``Idempotency-Key`` header (422 if it is malformed)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise field_error(IDEMPOTENCY_HEADER, "must be 1-255 printable ASCII characters")
    return key


def routes(service: JobService) -> list[Route]:
    """Every ``/api/generate*`` route, bound to ``service``."""

    async def submit(request: Request) -> tuple[Job, bool]:
        owner = owner_of(request)
        key = idempotency_key_of(request)
        body = await request.body()
        generation = with_mask_image(decode_struct(body, GenerationRequest))
        return await service.submit(owner, generation, fingerprint=body_hash(body), idempotency_key=key)

    def accepted(job: Job, created: bool) -> Response:
        headers = {"Location": f"/api/generate/status/{job.task_id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        # A new job is reported as accepted into the queue (API.md), even if it started at once.
        status = "queued" if created else job.status
        return StructResponse(JobSubmitted(task_id=job.task_id, status=status), status_code=202, headers=headers)

    async def submit_async(request: Request) -> Response:
        job, created = await submit(request)
        return accepted(job, created)

    async def generate_sync(request: Request) -> Response:
        job, created = await submit(request)
        await service.wait(job.task_id, service.settings.sync_wait_s)
        job = await service.lookup(job.owner, job.task_id)
        if job.status == "done":
            return await result_response(job)
        if job.status == "error":
            raise ProblemError(job.error_status or 502, f"task {job.task_id} failed: {job.error}")
        if job.status == "cancelled":
            raise ProblemError(409, f"task {job.task_id} was cancelled")
        return accepted(job, created)

    async def status(request: Request) -> Response:
        job = await service.lookup(owner_of(request), request.path_params["task_id"])
        return StructResponse(await service.status_answer(job))

    async def result_response(job: Job) -> Response:
        job, data = await service.result(job.owner, job.task_id)
        return StructResponse(job_result(job, data))

    async def result(request: Request) -> Response:
        job = await service.lookup(owner_of(request), request.path_params["task_id"])
        if job.status == "cancelled":
            # The seed client fetches the result after its cancel when the stream ended first:
            # a cancellation answers 200 saying so, not a 409 it would show as an error.
            return StructResponse(cancelled_result(job), headers=_CANCELLED)
        if job.status == "done" and job.result is not None and _without_image(request):
            # ``?include_image=false``: the answer without the base64 (a big result is fetched as
            # its asset, ``image_asset``, or from result-image); the blob is not even read.
            return StructResponse(job_result(job, b""))
        return await result_response(job)

    async def result_image(request: Request) -> Response:
        owner = owner_of(request)
        fmt = _FORMATS.get(request.query_params.get("format", "png").lower())
        if fmt is None:
            raise field_error("format", "must be png, webp or jpeg")
        quality = _quality(request.query_params.get("quality"))
        job = await service.lookup(owner, request.path_params["task_id"])
        if job.status == "cancelled":
            return Response(CANCELLED_IMAGE, media_type="image/png", headers=_CANCELLED)
        job, data = await service.result(owner, job.task_id)
        if fmt != "png" or quality is not None:
            data = await run_sync(_convert, data, fmt, quality)
        headers = {"Content-Disposition": f'inline; filename="{job.task_id}.{fmt}"'}
        return Response(data, media_type=CONTENT_TYPES[fmt], headers=headers)

    async def cancel(request: Request) -> Response:
        job = await service.cancel(owner_of(request), request.path_params["task_id"])
        return StructResponse(service.status_of(job))

    async def stream(request: Request) -> Response:
        owner = owner_of(request)
        job = await service.lookup(owner, request.path_params["task_id"])
        last_id = _last_event_id(request)
        return StreamingResponse(
            event_stream(service, job, last_id), media_type="text/event-stream", headers=_SSE_HEADERS
        )

    async def list_(request: Request) -> Response:
        query = request.query_params
        page = await list_jobs(
            service,
            owner_of(request),
            status=query.get("status"),
            limit=query.get("limit"),
            cursor=query.get("cursor"),
        )
        return StructResponse(page)

    async def delete(request: Request) -> Response:
        await delete_job(service, owner_of(request), request.path_params["task_id"])
        return Response(status_code=204)

    return [
        Route("/api/generate", list_, methods=["GET"]),
        Route("/api/generate/{task_id}", delete, methods=["DELETE"]),
        Route("/api/generate", generate_sync, methods=["POST"]),
        Route("/api/generate/async", submit_async, methods=["POST"]),
        Route("/api/generate/status/{task_id}", status, methods=["GET"]),
        Route("/api/generate/stream/{task_id}", stream, methods=["GET"]),
        Route("/api/generate/result/{task_id}", result, methods=["GET"]),
        Route("/api/generate/result-image/{task_id}", result_image, methods=["GET"]),
        Route("/api/generate/async/cancel/{task_id}", cancel, methods=["POST"]),
    ]


def _without_image(request: Request) -> bool:
    raw = request.query_params.get("include_image")
    if raw is None:
        return False
    if raw.lower() in ("false", "0", "no"):
        return True
    if raw.lower() in ("true", "1", "yes"):
        return False
    raise field_error("include_image", "must be true or false")


def _quality(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        quality = int(raw)
    except ValueError:
        raise field_error("quality", "must be an integer from 1 to 100") from None
    if not 1 <= quality <= 100:
        raise field_error("quality", "must be an integer from 1 to 100")
    return quality


def _convert(png: bytes, fmt: str, quality: int | None) -> bytes:
    return encode_image(open_image(png, field="result", mode=None), fmt, quality)


def _last_event_id(request: Request) -> int | None:
    """``Last-Event-ID`` (or ``?last_event_id=`` for clients that cannot set headers). An id this
    service cannot have issued is treated as absent: the stream starts from the current state."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


async def event_stream(service: JobService, job: Job, last_id: int | None) -> AsyncIterator[bytes]:
    """The SSE body: what the client missed (exact history, or the current state as one event),
    then live events, heartbeats while idle, and the end after the terminal event."""
    task_id = job.task_id
    subscription = service.broker.subscribe(task_id)
    try:
        current = service.active_job(task_id)
        if current is None:
            # Not running here: finished (possibly between the lookup and the subscription).
            current = await service.store.get(task_id) or job
        snapshot = service.snapshot(current)
        frames: list[Frame] | None
        if last_id is None:
            frames = [snapshot]
        else:
            frames = service.broker.replay(task_id, last_id)
            if frames is None:
                frames = [snapshot] if last_id < snapshot.id else []
        sent = last_id or 0
        yield _RETRY
        for frame in frames:
            yield frame.data
            sent = max(sent, frame.id)
            if frame.terminal:
                return
        if current.terminal:
            return
        heartbeat = service.settings.heartbeat_s
        while True:
            try:
                item = await asyncio.wait_for(subscription.queue.get(), heartbeat)
            except TimeoutError:
                yield HEARTBEAT
                continue
            if item is None:
                return
            if item.id <= sent:
                continue
            yield item.data
            sent = item.id
            if item.terminal:
                if b'"status":"cancelled"' in item.data:
                    # The cancel's answer goes out after this event; a client that stops reading
                    # only once it has that answer must not see the stream end first.
                    await asyncio.sleep(service.settings.cancel_linger_s)
                return
    finally:
        with contextlib.suppress(RuntimeError):
            service.broker.unsubscribe(task_id, subscription)
