"""Fixtures of the generation tests (helpers live in ``generation_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from generation_helpers import fast_settings, serve_in_process
from starlette.applications import Starlette

from retouch.generation.app import create_app
from retouch.sdk import AsyncClient


@pytest.fixture
async def classic() -> AsyncIterator[tuple[AsyncClient, Starlette]]:
    """The service with the classic engine, in-process, model loaded."""
    app = create_app(fast_settings())
    async with serve_in_process(app) as client:
        assert app.state.runner.wait_ready(30)
        yield client, app
