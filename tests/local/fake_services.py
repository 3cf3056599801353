"""Tiny services the local-stack tests run in real child processes (via ``PYTHONPATH``)."""

from __future__ import annotations

import os
import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from retouch.runtime import ServiceSettings, create_service_app, load_settings

#: The variables a fake service reports back, so tests can see what the stack gave each child.
REPORTED = (
    "GENERATION_SERVICE_URL",
    "SEGMENTATION_SERVICE_URL",
    "IMAGE_UTILS_SERVICE_URL",
    "JOB_MANAGER_SERVICE_URL",
    "ALPHA_SERVICE_URL",
    "BETA_SERVICE_URL",
    "RETOUCH_SERVICE_TOKEN",
    "RETOUCH_DATA_DIR",
    "RETOUCH_API_KEYS",
    "RETOUCH_WEB_DIR",
    "RETOUCH_GENERATION_ENGINE",
    "RETOUCH_SEGMENTATION_ENGINE",
    "FAKE_MARKER",
)


async def _env(request: Request) -> Response:
    return JSONResponse({name: os.environ.get(name) for name in REPORTED} | {"pid": os.getpid()})


async def _exit(request: Request) -> Response:
    code = int(request.query_params.get("code", "3"))
    # Exit just after answering, as a crash would: no shutdown handlers run.
    threading.Timer(0.05, os._exit, args=(code,)).start()
    return JSONResponse({"exiting": code})


def create_app() -> Starlette:
    """A healthy service (token-protected like the real ones) with ``/env`` and ``/exit``."""
    settings = load_settings(ServiceSettings)
    routes = [Route("/env", _env, methods=["GET"]), Route("/exit", _exit, methods=["POST"])]
    return create_service_app(name="fake", version="0.0.0", settings=settings, routes=routes)


def create_broken_app() -> Starlette:
    """A service whose factory fails, as a misconfigured one does."""
    raise RuntimeError("fake start-up failure")


def create_unhealthy_app() -> Starlette:
    """A service that runs but never reports ready."""
    from retouch.sdk.models.common import Health

    settings = load_settings(ServiceSettings)
    return create_service_app(
        name="sick",
        version="0.0.0",
        settings=settings,
        routes=[],
        health=lambda: Health(service="sick", version="0.0.0", status="unhealthy", ready=False),
    )
