"""``client.generation``: direct calls to the generation service (/api/generation/*, internal).

Most callers want ``client.jobs`` (the public, asynchronous job API). These calls talk to a
generation service itself: :meth:`Generation.stream` yields each event of a run as it happens,
:meth:`Generation.run` waits for the result, :meth:`Generation.cancel` stops a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Generator
from typing import cast
from urllib.parse import quote

from retouch.sdk._base import NOT_GIVEN, RequestSpec, Timeout, decode_body
from retouch.sdk.errors import APIError, error_for_status
from retouch.sdk.models.generation import CancelRunResponse, ErrorEvent, ResultEvent, RunEvent, RunRequest
from retouch.sdk.models.jobs import OWNER_HEADER
from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = ["AsyncGeneration", "Generation"]

_NDJSON = "application/x-ndjson"


def _run_spec(request: RunRequest) -> RequestSpec:
    # Not idempotent: retrying a run would start a second edit.
    headers = {"Accept": f"{_NDJSON}, application/problem+json"}
    if request.owner:
        # The generation service resolves the run's asset references as this owner.
        headers[OWNER_HEADER] = request.owner
    return RequestSpec("POST", "/api/generation/run", body=request, headers=headers)


def _cancel_spec(run_id: str) -> RequestSpec:
    return RequestSpec(
        "POST", f"/api/generation/cancel/{quote(run_id, safe='')}", cast=CancelRunResponse, idempotent=True
    )


def _decode(line: str | bytes) -> RunEvent | None:
    if not line.strip():
        return None
    return cast(RunEvent, decode_body(line, RunEvent, "a line of the generation stream"))


def _terminal(event: RunEvent) -> ResultEvent | None:
    """The result if ``event`` ends the run successfully; raises the SDK error for an error event."""
    if isinstance(event, ErrorEvent):
        raise error_for_status(event.problem)
    return event if isinstance(event, ResultEvent) else None


class Generation(SyncResource):
    """Direct calls to a generation service (``/api/generation/*``, internal)."""

    def stream(self, request: RunRequest, *, timeout: Timeout = NOT_GIVEN) -> Generator[RunEvent, None, None]:
        """Start a run and yield its events as they come: progress events, then exactly one
        :class:`ResultEvent` or :class:`ErrorEvent`.

        A request the service refuses before starting (validation, busy) raises the matching
        :class:`~retouch.sdk.errors.APIStatusError`. Closing the generator early closes the
        connection, which cancels the run. ``timeout`` bounds each wait for the next event.
        """
        with self._client._stream(_run_spec(request), timeout) as response:
            for line in response.iter_lines():
                event = _decode(line)
                if event is not None:
                    yield event

    def run(
        self,
        request: RunRequest,
        *,
        on_event: Callable[[RunEvent], None] | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> ResultEvent:
        """Run ``request`` to the end and return its :class:`ResultEvent`; ``on_event`` sees every
        event first. A failed or cancelled run raises the error class of its problem's status
        (cancelled: :class:`~retouch.sdk.errors.ConflictError` with detail ``cancelled``)."""
        with contextlib.closing(self.stream(request, timeout=timeout)) as events:
            for event in events:
                if on_event is not None:
                    on_event(event)
                result = _terminal(event)
                if result is not None:
                    return result
        raise APIError("the generation stream ended without a result")

    def cancel(self, run_id: str, *, timeout: Timeout = NOT_GIVEN) -> CancelRunResponse:
        """Tell the run ``run_id`` to stop between two steps; 404 if no such run is in progress."""
        result: CancelRunResponse = self._client._send(_cancel_spec(run_id), timeout)
        return result


class AsyncGeneration(AsyncResource):
    """Async twin of :class:`Generation`."""

    async def stream(self, request: RunRequest, *, timeout: Timeout = NOT_GIVEN) -> AsyncGenerator[RunEvent, None]:
        """Start a run and yield its events as they come (see :meth:`Generation.stream`)."""
        async with self._client._stream(_run_spec(request), timeout) as response:
            async for line in response.aiter_lines():
                event = _decode(line)
                if event is not None:
                    yield event

    async def run(
        self,
        request: RunRequest,
        *,
        on_event: Callable[[RunEvent], None] | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> ResultEvent:
        """Run ``request`` to the end and return its result (see :meth:`Generation.run`)."""
        events = self.stream(request, timeout=timeout)
        try:
            async for event in events:
                if on_event is not None:
                    on_event(event)
                result = _terminal(event)
                if result is not None:
                    return result
        finally:
            await events.aclose()
        raise APIError("the generation stream ended without a result")

    async def cancel(self, run_id: str, *, timeout: Timeout = NOT_GIVEN) -> CancelRunResponse:
        """Tell the run ``run_id`` to stop (see :meth:`Generation.cancel`)."""
        result: CancelRunResponse = await self._client._send(_cancel_spec(run_id), timeout)
        return result
