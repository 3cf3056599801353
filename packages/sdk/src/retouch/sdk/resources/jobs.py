"""``client.jobs``: async generation jobs (``/api/generate*``), and ``client.edit`` on top of them.

>>> result = client.edit("photo.png", task_type="removal", mask="mask.png",
...                      on_progress=lambda e: print(e.status, e.progress))
>>> open("out.png", "wb").write(result.image)

Submissions carry an ``Idempotency-Key`` (a fresh one unless you pass your own), so a retried
submit never creates a second job. Event streams resume from the last event id after a dropped
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from retouch.sdk._base import NOT_GIVEN, NotGiven, RequestSpec, Timeout, decode_body, raise_for_problem
from retouch.sdk.errors import APIConnectionError, RetouchError
from retouch.sdk.images import ImageInput, to_base64_bytes
from retouch.sdk.models.generation import GenerationRequest, TaskType
from retouch.sdk.models.jobs import (
    IDEMPOTENCY_HEADER,
    JobEvent,
    JobPage,
    JobResult,
    JobStatus,
    JobStatusValue,
    JobSubmitted,
)
from retouch.sdk.resources import AsyncResource, SyncResource
from retouch.sdk.resources.assets import worth_uploading

__all__ = ["AsyncJobs", "JobCancelledError", "JobFailedError", "Jobs", "ProgressCallback", "SSEParser"]

#: Called with every event of a job while :meth:`Jobs.edit` / :meth:`Jobs.wait` wait for it.
ProgressCallback = Callable[[JobEvent], Any]

_RECONNECTS = 5
#: ``POST /api/generate`` may hold the request for up to about 150 s before it answers.
_SYNC_TIMEOUT = httpx.Timeout(60.0, read=160.0)
#: Where a body that breaks the contract came from, in the error raised for it.
_SUBMIT_ANSWER = "the answer to POST /api/generate"
_STREAM_ERRORS = (APIConnectionError, httpx.TransportError)


class JobFailedError(RetouchError):
    """The job ended without a result; ``status`` is its final :class:`JobStatus`."""

    def __init__(self, status: JobStatus) -> None:
        self.status = status
        super().__init__(f"task {status.task_id} {status.status}: {status.error or 'no detail'}")


class JobCancelledError(JobFailedError):
    """The job was cancelled."""


class SSEParser:
    """Turns ``text/event-stream`` lines into :class:`JobEvent` objects, as the SSE specification
    (and httpx-sse) reads them: the last event id persists across blocks until an ``id:`` line
    changes it (an ``id:``-only block sets it without dispatching anything), ``retry:`` sets the
    reconnection delay, comments and blocks without data dispatch nothing."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        #: The last event id, for ``Last-Event-ID`` on a reconnect.
        self.last_id: str | None = None
        #: The reconnection delay the server asked for (``retry:``), in seconds.
        self.retry: float | None = None

    def feed(self, line: str) -> JobEvent | None:
        """Take one line (without its newline); returns an event when ``line`` completes one."""
        if line == "":
            data, self._data, self._event = self._data, [], ""
            if not data:
                return None
            event: JobEvent = decode_body("\n".join(data), JobEvent, "an event of the job stream")
            if event.id is None:
                event.id = self.last_id
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value) / 1000
        return None

    def seen(self, event: JobEvent) -> None:
        """Record that ``event`` was handed on: a reconnect resumes after it even when the stream
        broke between its data and the ``id:`` block that follows it (its JSON carries the id)."""
        if event.id is not None:
            self.last_id = event.id

    def reconnect_delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect ``attempt`` (0-based): the server's ``retry:`` when it
        sent one, else a short exponential backoff."""
        return self.retry if self.retry is not None else min(2.0, 0.2 * 2**attempt)

    def is_repeat(self, event: JobEvent, last_seen: str | None) -> bool:
        """Whether ``event`` is one already handed on (a resumed stream may send the event that was
        cut off again): ids are increasing integers on this API."""
        if event.id is None or last_seen is None or not (event.id.isdigit() and last_seen.isdigit()):
            return False
        return int(event.id) <= int(last_seen)


def _submit_spec(path: str, request: GenerationRequest, key: str | NotGiven | None, cast: Any) -> RequestSpec:
    headers = {}
    idempotency_key = uuid.uuid4().hex if isinstance(key, NotGiven) else key
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return RequestSpec("POST", path, body=request, cast=cast, headers=headers)


def _stream_spec(task_id: str, last_id: str | None) -> RequestSpec:
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    return RequestSpec("GET", f"/api/generate/stream/{quote(task_id, safe='')}", headers=headers)


def _image_spec(task_id: str, format: str, quality: int | None) -> RequestSpec:
    params = {"format": format}
    if quality is not None:
        params["quality"] = str(quality)
    return RequestSpec("GET", f"/api/generate/result-image/{quote(task_id, safe='')}", params=params)


def _list_spec(status: str | None, limit: int | None, cursor: str | None) -> RequestSpec:
    params = {"status": status, "limit": None if limit is None else str(limit), "cursor": cursor}
    query = {name: value for name, value in params.items() if value is not None}
    return RequestSpec("GET", "/api/generate", cast=JobPage, params=query, idempotent=True)


def _delete_spec(task_id: str) -> RequestSpec:
    return RequestSpec("DELETE", f"/api/generate/{quote(task_id, safe='')}", idempotent=True)


def build_request(
    image: ImageInput,
    *,
    task_type: TaskType,
    prompt: str,
    mask: ImageInput | None,
    reference_image: ImageInput | None,
    reference_mask: ImageInput | None,
    options: dict[str, Any],
) -> GenerationRequest:
    """The :class:`GenerationRequest` :meth:`Jobs.edit` submits (``options``: its other fields).

    ``conditional_images`` among the options take paths, bytes or PIL images like ``image``.
    """
    conditions = options.get("conditional_images")
    if conditions is not None:
        options = {**options, "conditional_images": [to_base64_bytes(item) for item in conditions]}
    return GenerationRequest(
        prompt=prompt,
        input_image=to_base64_bytes(image),
        task_type=task_type,
        mask=None if mask is None else to_base64_bytes(mask),
        reference_image=None if reference_image is None else to_base64_bytes(reference_image),
        reference_mask_R=None if reference_mask is None else to_base64_bytes(reference_mask),
        **options,
    )


def _final(status: JobStatus) -> JobStatus:
    if status.status == "cancelled":
        raise JobCancelledError(status)
    if status.status == "error":
        raise JobFailedError(status)
    return status


def _as_status(event: JobEvent) -> JobStatus:
    fields = msgspec.structs.asdict(event)
    fields.pop("type")
    fields.pop("id")
    return JobStatus(**fields)


class Jobs(SyncResource):
    """Async generation jobs (``/api/generate*``)."""

    def submit(
        self,
        request: GenerationRequest,
        *,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        timeout: Timeout = NOT_GIVEN,
    ) -> JobSubmitted:
        """``POST /api/generate/async``: queue an edit. A fresh ``Idempotency-Key`` is sent unless
        you give one (``None`` sends none); the same key returns the same job."""
        spec = _submit_spec("/api/generate/async", request, idempotency_key, JobSubmitted)
        result: JobSubmitted = self._client._send(spec, timeout)
        return result

    def generate(
        self,
        request: GenerationRequest,
        *,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        timeout: Timeout = NOT_GIVEN,
    ) -> JobResult | JobSubmitted:
        """``POST /api/generate``: submit and wait on the server (bounded); the result, or the
        :class:`JobSubmitted` of a job still running when the server stopped waiting."""
        spec = _submit_spec("/api/generate", request, idempotency_key, None)
        response = self._client._send_raw(spec, _SYNC_TIMEOUT if isinstance(timeout, NotGiven) else timeout)
        raise_for_problem(response)
        if response.status_code == 202:
            return decode_body(response.content, JobSubmitted, _SUBMIT_ANSWER, response)  # type: ignore[no-any-return]
        return decode_body(response.content, JobResult, _SUBMIT_ANSWER, response)  # type: ignore[no-any-return]

    def get(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> JobStatus:
        """``GET /api/generate/status/{task_id}``."""
        result: JobStatus = self._client._send(
            RequestSpec("GET", f"/api/generate/status/{quote(task_id, safe='')}", cast=JobStatus), timeout
        )
        return result

    def stream(
        self, task_id: str, *, last_event_id: str | None = None, timeout: Timeout = NOT_GIVEN
    ) -> Iterator[JobEvent]:
        """``GET /api/generate/stream/{task_id}``: the job's events up to the terminal one.
        A dropped connection is resumed with ``Last-Event-ID`` (a few times)."""
        parser = SSEParser()
        parser.last_id = last_event_id
        for attempt in range(_RECONNECTS + 1):
            try:
                with self._client._stream(_stream_spec(task_id, parser.last_id), timeout) as response:
                    seen = parser.last_id
                    for event in _events(response.iter_lines(), parser):
                        if parser.is_repeat(event, seen):
                            continue
                        parser.seen(event)
                        seen = event.id
                        yield event
                        if event.done:
                            return
            except _STREAM_ERRORS:
                if attempt == _RECONNECTS:
                    raise
            time.sleep(parser.reconnect_delay(attempt))
        raise APIConnectionError(f"the event stream of task {task_id} kept ending without a final event")

    def wait(
        self, task_id: str, *, on_progress: ProgressCallback | None = None, timeout: Timeout = NOT_GIVEN
    ) -> JobStatus:
        """Follow the job's events until it finishes; returns its final status (whatever it is)."""
        last: JobEvent | None = None
        for event in self.stream(task_id, timeout=timeout):
            last = event
            if on_progress is not None:
                on_progress(event)
        return _as_status(last) if last is not None else self.get(task_id, timeout=timeout)

    def result(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> JobResult:
        """``GET /api/generate/result/{task_id}`` (``ConflictError`` while not finished, or when the
        job ended ``error``; a ``cancelled`` job answers ``status == "cancelled"`` and an empty
        ``image``)."""
        result: JobResult = self._client._send(
            RequestSpec("GET", f"/api/generate/result/{quote(task_id, safe='')}", cast=JobResult), timeout
        )
        return result

    def result_image(
        self, task_id: str, *, format: str = "png", quality: int | None = None, timeout: Timeout = NOT_GIVEN
    ) -> bytes:
        """``GET /api/generate/result-image/{task_id}``: the image bytes as ``png``, ``webp`` or ``jpeg``."""
        result: bytes = self._client._send(_image_spec(task_id, format, quality), timeout)
        return result

    def cancel(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> JobStatus:
        """``POST /api/generate/async/cancel/{task_id}`` (``ConflictError`` once finished)."""
        result: JobStatus = self._client._send(
            RequestSpec("POST", f"/api/generate/async/cancel/{quote(task_id, safe='')}", cast=JobStatus), timeout
        )
        return result

    def list(
        self,
        *,
        status: JobStatusValue | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> Iterator[JobPage]:
        """``GET /api/generate``: your jobs, newest first, one :class:`JobPage` at a time (each
        page is fetched when the iteration reaches it). ``status`` keeps only jobs with that
        status; ``limit`` is the page size (1-100); ``cursor`` starts after an earlier page."""
        next_cursor = cursor
        while True:
            page: JobPage = self._client._send(_list_spec(status, limit, next_cursor), timeout)
            yield page
            next_cursor = page.next_cursor
            if next_cursor is None:
                return

    def delete(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> None:
        """``DELETE /api/generate/{task_id}``: cancel the job if it is not finished, then delete it,
        its inputs and its result (``NotFoundError`` if there is no such job of yours)."""
        self._client._send(_delete_spec(task_id), timeout)

    def edit(
        self,
        image: ImageInput,
        *,
        task_type: TaskType,
        prompt: str = "",
        mask: ImageInput | None = None,
        reference_image: ImageInput | None = None,
        reference_mask: ImageInput | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        timeout: Timeout = NOT_GIVEN,
        **options: Any,
    ) -> JobResult:
        """Submit an edit and wait for it, calling ``on_progress`` with every event; returns the
        result. ``options`` are further :class:`GenerationRequest` fields (``num_inference_steps``,
        ``seed``, ``engine``...). Raises :class:`JobFailedError` / :class:`JobCancelledError`;
        an interrupt (Ctrl-C) while waiting cancels the job before it propagates. A picture over
        :data:`~retouch.sdk.resources.assets.UPLOAD_THRESHOLD` is uploaded once as an asset and
        passed by reference."""
        if worth_uploading(image):
            image = self._client.assets.ref(image, timeout=timeout)
        if reference_image is not None and worth_uploading(reference_image):
            reference_image = self._client.assets.ref(reference_image, timeout=timeout)
        request = build_request(
            image,
            task_type=task_type,
            prompt=prompt,
            mask=mask,
            reference_image=reference_image,
            reference_mask=reference_mask,
            options=options,
        )
        submitted = self.submit(request, idempotency_key=idempotency_key, timeout=timeout)
        try:
            _final(self.wait(submitted.task_id, on_progress=on_progress, timeout=timeout))
        except KeyboardInterrupt:
            self._cancel_quietly(submitted.task_id)
            raise
        return self.result(submitted.task_id, timeout=timeout)

    def _cancel_quietly(self, task_id: str) -> None:
        with contextlib.suppress(RetouchError):
            self.cancel(task_id, timeout=30.0)


class AsyncJobs(AsyncResource):
    """Async twin of :class:`Jobs`."""

    async def submit(
        self,
        request: GenerationRequest,
        *,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        timeout: Timeout = NOT_GIVEN,
    ) -> JobSubmitted:
        """``POST /api/generate/async``; see :meth:`Jobs.submit`."""
        spec = _submit_spec("/api/generate/async", request, idempotency_key, JobSubmitted)
        result: JobSubmitted = await self._client._send(spec, timeout)
        return result

    async def generate(
        self,
        request: GenerationRequest,
        *,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        timeout: Timeout = NOT_GIVEN,
    ) -> JobResult | JobSubmitted:
        """``POST /api/generate``; see :meth:`Jobs.generate`."""
        spec = _submit_spec("/api/generate", request, idempotency_key, None)
        response = await self._client._send_raw(spec, _SYNC_TIMEOUT if isinstance(timeout, NotGiven) else timeout)
        raise_for_problem(response)
        if response.status_code == 202:
            return decode_body(response.content, JobSubmitted, _SUBMIT_ANSWER, response)  # type: ignore[no-any-return]
        return decode_body(response.content, JobResult, _SUBMIT_ANSWER, response)  # type: ignore[no-any-return]

    async def get(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> JobStatus:
        """``GET /api/generate/status/{task_id}``."""
        result: JobStatus = await self._client._send(
            RequestSpec("GET", f"/api/generate/status/{quote(task_id, safe='')}", cast=JobStatus), timeout
        )
        return result

    async def stream(
        self, task_id: str, *, last_event_id: str | None = None, timeout: Timeout = NOT_GIVEN
    ) -> AsyncIterator[JobEvent]:
        """``GET /api/generate/stream/{task_id}``; see :meth:`Jobs.stream`."""
        parser = SSEParser()
        parser.last_id = last_event_id
        for attempt in range(_RECONNECTS + 1):
            try:
                async with self._client._stream(_stream_spec(task_id, parser.last_id), timeout) as response:
                    seen = parser.last_id
                    async for line in response.aiter_lines():
                        event = parser.feed(line.rstrip("\r\n"))
                        if event is None or parser.is_repeat(event, seen):
                            continue
                        parser.seen(event)
                        seen = event.id
                        yield event
                        if event.done:
                            return
            except _STREAM_ERRORS:
                if attempt == _RECONNECTS:
                    raise
            await asyncio.sleep(parser.reconnect_delay(attempt))
        raise APIConnectionError(f"the event stream of task {task_id} kept ending without a final event")

    async def wait(
        self, task_id: str, *, on_progress: ProgressCallback | None = None, timeout: Timeout = NOT_GIVEN
    ) -> JobStatus:
        """See :meth:`Jobs.wait` (``on_progress`` may be a coroutine function)."""
        last: JobEvent | None = None
        async for event in self.stream(task_id, timeout=timeout):
            last = event
            if on_progress is not None:
                outcome = on_progress(event)
                if asyncio.iscoroutine(outcome):
                    await outcome
        return _as_status(last) if last is not None else await self.get(task_id, timeout=timeout)

    async def result(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> JobResult:
        """``GET /api/generate/result/{task_id}``; see :meth:`Jobs.result`."""
        result: JobResult = await self._client._send(
            RequestSpec("GET", f"/api/generate/result/{quote(task_id, safe='')}", cast=JobResult), timeout
        )
        return result

    async def result_image(
        self, task_id: str, *, format: str = "png", quality: int | None = None, timeout: Timeout = NOT_GIVEN
    ) -> bytes:
        """``GET /api/generate/result-image/{task_id}``."""
        result: bytes = await self._client._send(_image_spec(task_id, format, quality), timeout)
        return result

    async def cancel(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> JobStatus:
        """``POST /api/generate/async/cancel/{task_id}``."""
        result: JobStatus = await self._client._send(
            RequestSpec("POST", f"/api/generate/async/cancel/{quote(task_id, safe='')}", cast=JobStatus), timeout
        )
        return result

    async def list(
        self,
        *,
        status: JobStatusValue | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> AsyncIterator[JobPage]:
        """``GET /api/generate``, a page at a time; see :meth:`Jobs.list`."""
        next_cursor = cursor
        while True:
            page: JobPage = await self._client._send(_list_spec(status, limit, next_cursor), timeout)
            yield page
            next_cursor = page.next_cursor
            if next_cursor is None:
                return

    async def delete(self, task_id: str, *, timeout: Timeout = NOT_GIVEN) -> None:
        """``DELETE /api/generate/{task_id}``; see :meth:`Jobs.delete`."""
        await self._client._send(_delete_spec(task_id), timeout)

    async def edit(
        self,
        image: ImageInput,
        *,
        task_type: TaskType,
        prompt: str = "",
        mask: ImageInput | None = None,
        reference_image: ImageInput | None = None,
        reference_mask: ImageInput | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        timeout: Timeout = NOT_GIVEN,
        **options: Any,
    ) -> JobResult:
        """See :meth:`Jobs.edit`; cancelling the awaiting task cancels the job."""
        if worth_uploading(image):
            image = await self._client.assets.ref(image, timeout=timeout)
        if reference_image is not None and worth_uploading(reference_image):
            reference_image = await self._client.assets.ref(reference_image, timeout=timeout)
        request = build_request(
            image,
            task_type=task_type,
            prompt=prompt,
            mask=mask,
            reference_image=reference_image,
            reference_mask=reference_mask,
            options=options,
        )
        # The job may exist before its answer arrives: a cancel during the submit still waits
        # for the task id, so the job can be cancelled too.
        submitting = asyncio.ensure_future(self.submit(request, idempotency_key=idempotency_key, timeout=timeout))
        try:
            submitted = await asyncio.shield(submitting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                late = await asyncio.wait_for(submitting, 30.0)
                await asyncio.shield(self._cancel_quietly(late.task_id))
            raise
        try:
            _final(await self.wait(submitted.task_id, on_progress=on_progress, timeout=timeout))
        except (asyncio.CancelledError, KeyboardInterrupt):
            await asyncio.shield(self._cancel_quietly(submitted.task_id))
            raise
        return await self.result(submitted.task_id, timeout=timeout)

    async def _cancel_quietly(self, task_id: str) -> None:
        with contextlib.suppress(RetouchError):
            await self.cancel(task_id, timeout=30.0)


def _events(lines: Iterable[str], parser: SSEParser) -> Iterator[JobEvent]:
    for line in lines:
        event = parser.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event
