"""The service around the engines: streaming, cancellation, disconnects, loading, bounded runs, and
the SDK's generation resource (sync and async)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import httpx
import pytest
from generation_helpers import SlowEngine, box_mask, decode, fast_settings, png, serve_in_process
from loopback import serve_on_loopback
from PIL import Image
from starlette.applications import Starlette

from retouch.generation.app import create_app
from retouch.generation.validation import EditJob
from retouch.sdk import AsyncClient, Client
from retouch.sdk.codec import encode
from retouch.sdk.errors import ConflictError, NotFoundError, ServiceUnavailableError, UnprocessableEntityError
from retouch.sdk.models.generation import ErrorEvent, ProgressEvent, ResultEvent, RunEvent, RunRequest

PICTURE = Image.new("RGB", (40, 30), (90, 120, 150))
MASK = box_mask((40, 30), (10, 10, 20, 20))


def _request(run_id: str | None = None, task_type: Any = "removal", **fields: Any) -> RunRequest:
    return RunRequest(prompt="", input_image=png(PICTURE), mask=png(MASK), task_type=task_type, run_id=run_id, **fields)


def _slow_app(engine: SlowEngine, **settings: Any) -> Starlette:
    app = create_app(fast_settings(**settings))
    app.state.runner.engines["classic"] = engine
    return app


async def test_the_stream_is_ndjson_progress_then_exactly_one_result(classic: tuple[AsyncClient, Starlette]) -> None:
    _, app = classic
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://generation.test") as client:
        response = await client.post("/api/generation/run", content=encode(_request("n-1")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["type"] for line in lines[:-1]] == ["progress"] * (len(lines) - 1)
    assert lines[-1]["type"] == "result" and lines[-1]["run_id"] == "n-1"
    assert decode(base64.b64decode(lines[-1]["image"])).size == (40, 30)
    assert len(app.state.runs) == 0


async def test_cancel_stops_a_running_run_between_steps() -> None:
    engine = SlowEngine()
    app = _slow_app(engine)
    async with serve_in_process(app) as client:
        events: list[RunEvent] = []

        async def consume() -> None:
            events.extend([event async for event in client.generation.stream(_request("c-1"))])

        task = asyncio.create_task(consume())
        await asyncio.to_thread(engine.started.wait, 20)
        cancelled = await client.generation.cancel("c-1")
        assert cancelled.run_id == "c-1" and cancelled.cancelled
        await asyncio.wait_for(task, 30)
    assert engine.stopped_by_cancel.is_set()
    assert engine.steps_done < engine.steps
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert (terminal.problem.status, terminal.problem.detail) == (409, "cancelled")
    assert sum(isinstance(event, (ResultEvent, ErrorEvent)) for event in events) == 1
    assert len(app.state.runs) == 0


async def test_sdk_run_raises_the_cancelled_run_as_a_conflict() -> None:
    engine = SlowEngine()
    app = _slow_app(engine)
    async with serve_in_process(app) as client:
        task = asyncio.create_task(client.generation.run(_request("c-2")))
        await asyncio.to_thread(engine.started.wait, 20)
        await client.generation.cancel("c-2")
        with pytest.raises(ConflictError) as caught:
            await asyncio.wait_for(task, 30)
    assert caught.value.detail == "cancelled"


async def test_cancelling_an_unknown_run_is_404(classic: tuple[AsyncClient, Starlette]) -> None:
    client, _ = classic
    with pytest.raises(NotFoundError):
        await client.generation.cancel("no-such-run")


async def test_a_run_id_already_running_is_refused() -> None:
    engine = SlowEngine()
    app = _slow_app(engine, max_concurrent_runs=2)
    async with serve_in_process(app) as client:
        task = asyncio.create_task(client.generation.run(_request("d-1")))
        await asyncio.to_thread(engine.started.wait, 20)
        with pytest.raises(ConflictError) as caught:
            await client.generation.run(_request("d-1"))
        assert "already running" in caught.value.detail
        await client.generation.cancel("d-1")
        with pytest.raises(ConflictError):
            await asyncio.wait_for(task, 30)


async def test_runs_beyond_the_concurrency_limit_queue_and_beyond_the_queue_are_refused() -> None:
    engine = SlowEngine()
    app = _slow_app(engine, max_concurrent_runs=1, max_queued_runs=1)
    async with serve_in_process(app) as client:
        first = asyncio.create_task(client.generation.run(_request("q-1")))
        await asyncio.to_thread(engine.started.wait, 20)
        second_events: list[RunEvent] = []
        second = asyncio.create_task(client.generation.run(_request("q-2"), on_event=second_events.append))
        await asyncio.to_thread(_wait_until, lambda: app.state.runner.pending == 2)
        with pytest.raises(ServiceUnavailableError) as caught:
            await client.generation.run(_request("q-3"))
        assert caught.value.response is not None and caught.value.response.headers["retry-after"]
        await client.generation.cancel("q-1")
        with pytest.raises(ConflictError):
            await asyncio.wait_for(first, 30)
        await client.generation.cancel("q-2")
        with pytest.raises(ConflictError):
            await asyncio.wait_for(second, 30)
    first_stage = second_events[0]
    assert isinstance(first_stage, ProgressEvent) and first_stage.stage == "queued"


def _wait_until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class _GatedLoad(SlowEngine):
    """Loads only when ``release`` is set (or fails, with ``fail``)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(steps=2, step_s=0.0)
        self.release = threading.Event()
        self.fail = fail

    def load(self) -> None:
        self.release.wait(30)
        if self.fail:
            raise RuntimeError("weights are corrupt")

    def check(self, job: EditJob) -> None:
        return None


async def test_health_says_loading_until_the_model_is_ready_and_runs_wait_for_it() -> None:
    engine = _GatedLoad()
    app = _slow_app(engine)
    async with serve_in_process(app) as client:
        health = await client.health()
        assert (health.status, health.ready, health.engine, health.device) == ("loading", False, "classic", "cpu")
        events: list[RunEvent] = []
        run = asyncio.create_task(client.generation.run(_request("l-1"), on_event=events.append))
        await asyncio.sleep(0.2)
        assert not run.done()
        engine.release.set()
        result = await asyncio.wait_for(run, 30)
        assert result.width == 40
        health = await client.health()
        assert (health.status, health.ready) == ("healthy", True)
    first = events[0]
    assert isinstance(first, ProgressEvent) and first.stage == "loading_model"


async def test_a_model_that_failed_to_load_makes_health_unhealthy_and_runs_503() -> None:
    engine = _GatedLoad(fail=True)
    engine.release.set()
    app = _slow_app(engine)
    async with serve_in_process(app) as client:
        assert app.state.runner.wait_ready(30)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g.test") as raw:
            health = await raw.get("/api/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy" and "weights are corrupt" in health.json()["detail"]
        with pytest.raises(ServiceUnavailableError) as caught:
            await client.generation.run(_request())
        assert "weights are corrupt" in caught.value.detail


def test_a_client_that_disconnects_cancels_its_run() -> None:
    engine = SlowEngine(steps=2000)
    app = _slow_app(engine)
    with serve_on_loopback(app) as url, Client(url, max_retries=0) as client:
        stream = client.generation.stream(_request("x-1"))
        first = next(stream)
        assert isinstance(first, ProgressEvent)
        stream.close()  # drops the connection mid-run
        assert engine.stopped_by_cancel.wait(30)
        assert engine.steps_done < engine.steps


def test_sync_client_streams_runs_and_refuses_bad_requests() -> None:
    app = create_app(fast_settings())
    with serve_on_loopback(app) as url, Client(url, max_retries=0) as client:
        events = list(client.generation.stream(_request("s-1")))
        assert isinstance(events[-1], ResultEvent) and events[-1].run_id == "s-1"
        seen: list[RunEvent] = []
        result = client.generation.run(_request(), on_event=seen.append)
        assert seen[-1] is result and decode(result.image).size == (40, 30)
        with pytest.raises(UnprocessableEntityError) as caught:
            client.generation.run(_request(num_inference_steps=5, task_type="insertion"))
        assert "reference_image" in caught.value.detail
        with pytest.raises(NotFoundError):
            client.generation.cancel("nothing-here")
