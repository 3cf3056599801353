"""Event streams through a gateway served on a real socket: incremental, heartbeats, disconnects.

(httpx's ASGI transport collects a whole response before returning it, so these tests need a real
server in front of the gateway.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from gateway_fakes import FakeService, gateway_settings, serve

from retouch.gateway.app import create_app


@pytest.fixture
def served_gateway(fakes: dict[str, FakeService]) -> Iterator[str]:
    app = create_app(gateway_settings(fakes))
    with serve(app, lifespan="on") as url:
        yield url


async def _read_until(lines: object, marker: str, seen: list[str]) -> None:
    async for line in lines:  # type: ignore[attr-defined]
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"stream ended before {marker!r}: {seen}")


async def test_events_arrive_one_by_one(served_gateway: str, fakes: dict[str, FakeService]) -> None:
    job_manager = fakes["job_manager"]
    async with (
        httpx.AsyncClient(base_url=served_gateway, timeout=10) as client,
        client.stream(
            "GET", "/api/generate/stream/t1", headers={"accept": "text/event-stream", "last-event-id": "0"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        seen: list[str] = []
        await asyncio.wait_for(_read_until(lines, "data: first after 0", seen), timeout=10)
        # The first event is here while the service is still holding the second one back.
        assert not job_manager.release_second_event.is_set()
        job_manager.release_second_event.set()
        await asyncio.wait_for(_read_until(lines, "data: second", seen), timeout=10)
        rest = [line async for line in lines]
    events = [line for line in seen + rest if line and not line.startswith(":")]
    assert events == ["id: 1", "event: progress", "data: first after 0", "id: 2", "event: done", "data: second"]


async def test_the_services_heartbeats_pass_through(served_gateway: str, fakes: dict[str, FakeService]) -> None:
    async with (
        httpx.AsyncClient(base_url=served_gateway, timeout=10) as client,
        client.stream("GET", "/api/generate/stream/t2", params={"heartbeat": "0.05"}) as response,
    ):
        lines = response.aiter_lines()
        seen: list[str] = []
        await asyncio.wait_for(_read_until(lines, "data: first", seen), timeout=10)
        # The jobs service keeps the line alive while nothing happens; its comments reach the client.
        await asyncio.wait_for(_read_until(lines, ": heartbeat", seen), timeout=10)
        fakes["job_manager"].release_second_event.set()
        await asyncio.wait_for(_read_until(lines, "data: second", seen), timeout=10)


async def test_the_gateway_adds_no_heartbeat_of_its_own(fakes: dict[str, FakeService]) -> None:
    # One heartbeat layer: the jobs service's. A silent service yields a silent stream (until the
    # gateway's idle timeout ends it), however short that timeout is.
    app = create_app(gateway_settings(fakes, stream_idle_timeout_s=0.5))
    with serve(app, lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await asyncio.wait_for(client.get("/api/generate/stream/t4"), timeout=8)
    assert "data: first after start" in response.text
    assert [line for line in response.text.splitlines() if line.startswith(":")] == []


async def test_a_client_that_leaves_closes_the_service_stream(
    served_gateway: str, fakes: dict[str, FakeService]
) -> None:
    job_manager = fakes["job_manager"]
    async with (
        httpx.AsyncClient(base_url=served_gateway, timeout=10) as client,
        client.stream("GET", "/api/generate/stream/t3") as response,
    ):
        seen: list[str] = []
        await asyncio.wait_for(_read_until(response.aiter_lines(), "data: first", seen), timeout=10)
    # The client hung up before the second event: the gateway must let go of the service's stream
    # rather than hold it open until the service finishes on its own.
    assert await asyncio.to_thread(job_manager.stream_closed.wait, 5)
    assert not job_manager.release_second_event.is_set()
