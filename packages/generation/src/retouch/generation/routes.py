"""The internal HTTP API: ``POST /api/generation/run`` (NDJSON event stream) and
``POST /api/generation/cancel/{run_id}``.

A run is validated before the answer starts, so a bad request is an ordinary problem+json 4xx. Once
valid, the answer is ``application/x-ndjson``: one :class:`ProgressEvent` a line, then exactly one
:class:`ResultEvent` or :class:`ErrorEvent`. The engine works in a thread of its own (``start_thread``); its events
reach the event loop through ``call_soon_threadsafe``. A client that goes away cancels its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from retouch.generation.runner import Runner
from retouch.runtime.cancel import CancelRegistry, CancelToken
from retouch.runtime.concurrency import run_sync, start_thread
from retouch.runtime.http import StructResponse, read_struct
from retouch.runtime.problems import ProblemError
from retouch.sdk import codec
from retouch.sdk.models.generation import CancelRunResponse, RunEvent, RunRequest

__all__ = ["NDJSON", "RunRegistry", "build_routes", "event_stream", "run_registry"]

NDJSON = "application/x-ndjson"

#: The runs in progress, by run id (the runtime's one cancel registry; runs are not per caller:
#: the jobs service cancels the runs it started).
RunRegistry = CancelRegistry


def run_registry() -> RunRegistry:
    """An empty registry of runs, with this service's 409 / 404 details."""
    return CancelRegistry(busy="run {id!r} is already running", unknown="no run {id!r} is in progress", per_owner=False)


def event_stream(events: asyncio.Queue[RunEvent | None], cancel: CancelToken) -> StreamingResponse:
    """The run's events as NDJSON until the terminal one. A client that goes away (Starlette stops
    the body when it sees the disconnect) sets ``cancel`` before the run has ended."""

    async def lines() -> AsyncIterator[bytes]:
        ended = False
        try:
            while (event := await events.get()) is not None:
                yield codec.encode(event) + b"\n"
            ended = True
        finally:
            if not ended:
                cancel.cancel()

    return StreamingResponse(
        lines(), media_type=NDJSON, headers={"cache-control": "no-store", "x-accel-buffering": "no"}
    )


def build_routes(runner: Runner, registry: RunRegistry) -> list[Route]:
    """The service's routes, bound to ``runner`` and the shared ``registry`` of running runs."""

    async def run_endpoint(request: Request) -> Response:
        body = await read_struct(request, RunRequest)
        run_id = body.run_id or uuid.uuid4().hex
        cancel = registry.reserve(run_id)  # while validating too, so a duplicate id cannot slip in
        try:
            job = await run_sync(runner.prepare, body, run_id)
            if runner.state == "failed":
                raise ProblemError(503, f"the model failed to load: {runner.error}")
            if not runner.admit():
                raise ProblemError(503, "too many runs are waiting; retry later", headers={"Retry-After": "5"})
        except BaseException:
            registry.release(run_id, cancel)
            raise

        loop = asyncio.get_running_loop()
        events: asyncio.Queue[RunEvent | None] = asyncio.Queue()

        def deliver(item: RunEvent | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody is listening
                loop.call_soon_threadsafe(events.put_nowait, item)

        def finished() -> None:
            registry.release(run_id, cancel)
            events.put_nowait(None)

        def work() -> None:
            try:
                runner.report(job, deliver, cancel.is_set)
            finally:
                runner.release()
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(finished)

        # Not run_sync: a run takes minutes and would hold a shared worker that decodes need;
        # runner.admit() above bounds how many run at once.
        start_thread(work, name=f"generation-run-{run_id}")
        return event_stream(events, cancel)

    async def cancel_endpoint(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        registry.cancel(run_id)
        return StructResponse(CancelRunResponse(run_id=run_id))

    return [
        Route("/api/generation/run", run_endpoint, methods=["POST"]),
        Route("/api/generation/cancel/{run_id}", cancel_endpoint, methods=["POST"]),
    ]
