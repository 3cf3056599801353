"""Fixtures: four fake services on loopback ports, and gateways in front of them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from gateway_fakes import FakeService, MakeGateway, gateway_settings, serve

from retouch.gateway.app import create_app
from retouch.gateway.settings import SERVICES


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app's lifespan would point the root logger at stderr for the rest of the session.
    monkeypatch.setattr("retouch.runtime.app.configure_logging", lambda *args, **kwargs: None)


@pytest.fixture(scope="session")
def _fake_servers() -> Iterator[dict[str, FakeService]]:
    services = {name: FakeService(name) for name in SERVICES}
    with contextlib.ExitStack() as stack:
        for service in services.values():
            service.url = stack.enter_context(serve(service.app()))
        yield services


@pytest.fixture
def fakes(_fake_servers: dict[str, FakeService]) -> dict[str, FakeService]:
    """The four fake services (generation, segmentation, image_utils, job_manager), reset."""
    for service in _fake_servers.values():
        service.reset()
    return _fake_servers


@pytest.fixture
async def make_gateway(fakes: dict[str, FakeService]) -> AsyncIterator[MakeGateway]:
    """``await make_gateway(**settings)``: an in-process gateway (ASGI transport) and its client."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, urls: dict[str, str] | None = None, **overrides: Any) -> httpx.AsyncClient:
            app = create_app(gateway_settings(fakes, urls, **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
            return await stack.enter_async_context(client)

        yield make


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> httpx.AsyncClient:
    """A gateway with every fake configured and no API keys."""
    return await make_gateway()
