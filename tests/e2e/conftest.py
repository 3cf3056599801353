"""The real local stack for the e2e tests: every installed service and the gateway as processes
on loopback ports, started once per session, plus a second gateway with API keys in front of the
same services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from e2e_config import API_KEYS, MAX_BODY_BYTES

from retouch.local import Stack, StackSettings
from retouch.local.services import url_var
from retouch.sdk import AsyncClient, Client


def _start(settings: StackSettings, log_path: Path) -> Stack:
    stack = Stack(settings)
    try:
        stack.start()
    except Exception as exc:
        raise RuntimeError(f"{exc}\n(full logs: {log_path})") from exc
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack, with a small body limit and no API keys."""
    root = tmp_path_factory.mktemp("e2e-stack")
    log_path = root / "stack.log"
    with log_path.open("w") as log:
        settings = StackSettings(
            port=0,
            data_dir=root / "data",
            api_keys="",
            env={"RETOUCH_MAX_BODY_BYTES": str(MAX_BODY_BYTES)},
            log_stream=log,
            startup_timeout_s=180.0,
        )
        stack = _start(settings, log_path)
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="session")
def keyed_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second gateway, with API keys, wired to the same services (same service token)."""
    root = tmp_path_factory.mktemp("e2e-keyed")
    log_path = root / "gateway.log"
    env = {url_var(name): url for name, url in stack.service_urls.items()}
    env["RETOUCH_MAX_BODY_BYTES"] = str(MAX_BODY_BYTES)
    # The session's tests send many wrong keys from one address on purpose; the per-address
    # limit of failed attempts (tested in tests/gateway) would turn their 401s into 429s.
    env["RETOUCH_FAILED_KEY_BURST"] = "10000"
    with log_path.open("w") as log:
        settings = StackSettings(
            port=0,
            data_dir=root / "data",
            services=[],
            api_keys=",".join(API_KEYS),
            service_token=stack.token,
            env=env,
            log_stream=log,
            startup_timeout_s=180.0,
        )
        gateway = _start(settings, log_path)
        try:
            yield gateway.gateway_url
        finally:
            gateway.stop()


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[Client]:
    """The SDK pointed at the gateway; no retries, so a flaky answer shows."""
    with Client(stack.gateway_url, api_key="", max_retries=0, timeout=60) as sdk:
        yield sdk


@pytest.fixture
async def async_client(stack: Stack) -> AsyncIterator[AsyncClient]:
    """The async SDK pointed at the gateway."""
    async with AsyncClient(stack.gateway_url, api_key="", max_retries=0, timeout=60) as sdk:
        yield sdk
