"""Every service that reads pictures, in-process, for the tests that send the same bytes to each
public route (a module of its own: test modules import it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from retouch.generation.app import create_app as create_generation
from retouch.generation.settings import GenerationSettings
from retouch.image_utils.app import create_app as create_image_utils
from retouch.image_utils.settings import ImageUtilsSettings
from retouch.jobs.app import create_app as create_jobs
from retouch.jobs.settings import JobsSettings
from retouch.segmentation.app import create_app as create_segmentation
from retouch.segmentation.settings import SegmentationSettings

__all__ = ["SERVICES", "serve_all"]

#: name -> a factory of the app, given a scratch directory.
SERVICES: dict[str, Callable[[Path], Any]] = {
    "image-utils": lambda _: create_image_utils(ImageUtilsSettings(log_json=False)),
    "segmentation": lambda _: create_segmentation(SegmentationSettings(log_json=False)),
    "generation": lambda _: create_generation(GenerationSettings(log_json=False)),
    # Nothing reaches the generation service: every request here is refused at submit.
    "jobs": lambda tmp: create_jobs(
        JobsSettings(
            data_dir=tmp / "jobs", generation_service_url="http://127.0.0.1:9", engines=["classic"], log_json=False
        )
    ),
}


@contextlib.asynccontextmanager
async def serve_all(tmp: Path) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One HTTP client per service, each app's lifespan entered and its engine loaded."""
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, factory in SERVICES.items():
            app = factory(tmp)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{name}")
            )
        for client in clients.values():
            for _ in range(500):
                if (await client.get("/api/health")).json().get("ready", True):
                    break
                await asyncio.sleep(0.02)
        yield clients
