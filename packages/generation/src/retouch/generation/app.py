"""The generation service's app: ``create_app()`` (settings from the environment) or
``create_app(GenerationSettings(...))``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from retouch.generation.__about__ import __version__
from retouch.generation.routes import build_routes, run_registry
from retouch.generation.runner import Runner
from retouch.generation.settings import GenerationSettings
from retouch.runtime.app import create_service_app
from retouch.runtime.settings import load_settings

__all__ = ["create_app"]


def create_app(settings: GenerationSettings | None = None) -> Starlette:
    """The service: ``/api/generation/run``, ``/api/generation/cancel/{run_id}``, ``/api/health``.

    The model starts loading in the background when the app starts (health says ``loading`` until
    it is ready); a run that arrives earlier waits for it, saying ``loading_model``.
    """
    settings = settings or load_settings(GenerationSettings)
    runner = Runner(settings)
    registry = run_registry()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runner.ensure_loading()
        try:
            yield
        finally:
            registry.cancel_all()  # let engine threads stop at their next step

    app = create_service_app(
        name="generation",
        version=__version__,
        settings=settings,
        routes=build_routes(runner, registry),
        health=runner.health,
        lifespan=lifespan,
    )
    app.state.runner = runner
    app.state.runs = registry
    return app
