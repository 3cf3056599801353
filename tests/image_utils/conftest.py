"""Fixtures for the image-utils tests: the real app in-process, and the SDK pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from loopback import serve_on_loopback
from starlette.applications import Starlette

from retouch.image_utils.app import create_app
from retouch.image_utils.settings import ImageUtilsSettings
from retouch.sdk import AsyncClient


@pytest.fixture
def settings() -> ImageUtilsSettings:
    """Small limits so the limit tests stay cheap; plain-text logs."""
    return ImageUtilsSettings(log_json=False, max_image_side=4096, max_image_pixels=4_000_000)


@pytest.fixture
def app(settings: ImageUtilsSettings) -> Starlette:
    return create_app(settings)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[AsyncClient]:
    """The SDK's async client talking to the app in-process (no retries: errors surface at once)."""
    async with AsyncClient("http://test", transport=httpx.ASGITransport(app=app), max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client for requests the SDK would not send (bad JSON, wrong methods)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as raw:
        yield raw


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """The app served by uvicorn on a free loopback port in a thread, for the sync client and the CLI."""
    settings = ImageUtilsSettings(log_json=False, max_image_side=4096, max_image_pixels=4_000_000)
    with serve_on_loopback(create_app(settings)) as url:
        yield url
