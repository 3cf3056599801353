"""``create_app``: the segmentation service as a Starlette app (entry point ``retouch.services``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from retouch.runtime.app import create_service_app
from retouch.runtime.settings import load_settings
from retouch.segmentation.__about__ import __version__
from retouch.segmentation.engines import Engine, create_engine
from retouch.segmentation.routes import routes
from retouch.segmentation.service import SegmentationService
from retouch.segmentation.settings import SegmentationSettings

__all__ = ["create_app"]


def create_app(settings: SegmentationSettings | None = None, *, engine: Engine | None = None) -> Starlette:
    """The service app. ``settings`` default to the environment; ``engine`` to the one they name.

    Start-up fails at once on bad settings (e.g. a missing FastSAM weights file); the engine
    itself loads in the background, and the service answers 503 (health: ``loading``) until then.
    """
    settings = settings or load_settings(SegmentationSettings)
    service = SegmentationService(settings, engine or create_engine(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.create_task(service.start())
        try:
            yield
        finally:
            loading.cancel()

    app = create_service_app(
        name="segmentation",
        version=__version__,
        settings=settings,
        routes=routes(),
        health=service.health,
        lifespan=lifespan,
    )
    app.state.segmentation = service
    return app
