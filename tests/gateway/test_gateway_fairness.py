"""Fair shares per client address: request and stream caps, failed-key limits, stream decisions by
route and content type (never by the client's Accept), idle streams ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from gateway_fakes import PROBLEM_JSON, FakeService, gateway_settings, serve

from retouch.gateway.app import create_app
from retouch.gateway.fairness import FailedKeyLimiter

ClientFor = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def clients(fakes: dict[str, FakeService]) -> AsyncIterator[Callable[..., Any]]:
    """``await make(**settings)`` -> ``client_for(address)``: clients of one in-process gateway,
    each calling from the address it is given."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**overrides: Any) -> ClientFor:
            app = create_app(gateway_settings(fakes, **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))

            def client_for(address: str) -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(address, 40000))
                client = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)
                stack.push_async_callback(client.aclose)
                return client

            return client_for

        yield make


async def test_one_address_gets_429_past_its_requests_while_another_is_served(
    clients: Callable[..., Any],
) -> None:
    client_for: ClientFor = await clients(max_requests_per_client=2)
    greedy = client_for("10.0.0.1")
    slow = [asyncio.ensure_future(greedy.get("/api/generate/slow")) for _ in range(2)]
    await asyncio.sleep(0.3)
    refused = await greedy.get("/api/image-utils/get-only")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.headers["retry-after"] == "1"
    assert "at most 2" in refused.json()["detail"]
    # Another address has its own share.
    assert (await client_for("10.0.0.2").get("/api/image-utils/get-only")).status_code == 200
    assert [response.status_code for response in await asyncio.gather(*slow)] == [200, 200]
    # Shares are given back when requests end.
    assert (await greedy.get("/api/image-utils/get-only")).status_code == 200


async def test_event_streams_have_their_own_cap(clients: Callable[..., Any], fakes: dict[str, FakeService]) -> None:
    client_for: ClientFor = await clients(max_streams_per_client=1)
    client = client_for("10.0.0.1")
    first = asyncio.ensure_future(client.get("/api/generate/stream/t1"))
    await asyncio.sleep(0.3)
    second = await client.get("/api/generate/stream/t2")
    assert second.status_code == 429
    assert "event streams" in second.json()["detail"]
    # Plain calls of the same address still go through.
    assert (await client.get("/api/generate/get-only")).status_code == 200
    fakes["job_manager"].release_second_event.set()
    assert (await first).status_code == 200


async def test_an_accept_header_does_not_switch_off_the_read_timeout(clients: Callable[..., Any]) -> None:
    client_for: ClientFor = await clients(read_timeout_s=0.2, upstream_retries=0)
    response = await client_for("10.0.0.1").get("/api/generate/slow", headers={"accept": "text/event-stream"})
    assert response.status_code == 504
    assert "did not answer within 0.2 s" in response.json()["detail"]


async def test_failed_keys_are_limited_per_address(clients: Callable[..., Any]) -> None:
    client_for: ClientFor = await clients(api_keys=["right"], failed_key_burst=3, failed_key_per_minute=6)
    guesser = client_for("10.0.0.1")
    for attempt in range(3):
        response = await guesser.get("/api/generate/get-only", headers={"authorization": f"Bearer wrong{attempt}"})
        assert response.status_code == 401
    blocked = await guesser.get("/api/generate/get-only", headers={"authorization": "Bearer wrong"})
    assert blocked.status_code == 429
    assert blocked.headers["content-type"] == PROBLEM_JSON
    assert 1 <= int(blocked.headers["retry-after"]) <= 10
    assert "failed API key attempts" in blocked.json()["detail"]
    # While blocked, even a right key from that address learns nothing (no comparison is made).
    assert (await guesser.get("/api/generate/get-only", headers={"authorization": "Bearer right"})).status_code == 429
    # Other addresses are not affected, and right keys never count as failures.
    other = client_for("10.0.0.2")
    for _ in range(5):
        assert (await other.get("/api/generate/get-only", headers={"authorization": "Bearer right"})).status_code == 200


def test_the_failed_key_budget_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("retouch.gateway.fairness.time.monotonic", lambda: now[0])
    limiter = FailedKeyLimiter(per_minute=60, burst=2)
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.blocked_for("a") == 1
    assert limiter.blocked_for("b") == 0
    now[0] += 1.0
    assert limiter.blocked_for("a") == 0
    assert not FailedKeyLimiter(per_minute=0, burst=5).enabled


async def test_an_idle_event_stream_is_ended(fakes: dict[str, FakeService]) -> None:
    # The fake sends one event, then nothing until released: past the idle timeout the gateway
    # ends the stream and lets go of the service's.
    app = create_app(gateway_settings(fakes, stream_idle_timeout_s=0.5))
    job_manager = fakes["job_manager"]
    with serve(app, lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await asyncio.wait_for(client.get("/api/generate/stream/t1"), timeout=8)
    assert response.status_code == 200
    assert "data: first after start" in response.text
    assert "data: second" not in response.text
    assert not job_manager.release_second_event.is_set()
    assert await asyncio.to_thread(job_manager.stream_closed.wait, 10)
