"""The Starlette app factory every retouch service is built with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from retouch.runtime.assets import AssetContextMiddleware, AssetSource, HttpAssetSource
from retouch.runtime.concurrency import configure_workers
from retouch.runtime.http import StructResponse
from retouch.runtime.logging import configure_logging, current_request_id
from retouch.runtime.metrics import METRICS_PATH, MetricsMiddleware, RouteTemplates, metrics_endpoint, push_loop
from retouch.runtime.middleware import BodyLimitMiddleware, RequestContextMiddleware, ServiceTokenMiddleware
from retouch.runtime.problems import ProblemError, from_validation_error, problem_response
from retouch.runtime.settings import ServiceSettings
from retouch.runtime.tracing import TracingMiddleware, configure_tracing
from retouch.sdk.models.common import Health

__all__ = ["HealthProvider", "create_service_app", "problem_handlers"]

log = logging.getLogger("retouch.runtime")

#: Returns the service's current health (engine, device, readiness); called on every health probe.
HealthProvider = Callable[[], Health]
Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[Any]]


async def _problem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.to_problem(current_request_id(), request.url.path), exc.headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    problem = ProblemError(exc.status_code, str(detail)).to_problem(current_request_id(), request.url.path)
    return problem_response(problem, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, msgspec.ValidationError)
    problem = from_validation_error(exc).to_problem(current_request_id(), request.url.path)
    return problem_response(problem)


def problem_handlers() -> dict[Any, Callable[[Request, Exception], Any]]:
    """Exception handlers that render every error as problem+json."""
    return {
        ProblemError: _problem_error,
        HTTPException: _http_exception,
        msgspec.ValidationError: _validation_error,
    }


def create_service_app(
    *,
    name: str,
    version: str,
    settings: ServiceSettings,
    routes: Sequence[BaseRoute],
    health: HealthProvider | None = None,
    lifespan: Lifespan | None = None,
    open_paths: Collection[str] = ("/api/health",),
    middleware: Sequence[Middleware] = (),
    outer_middleware: Sequence[Middleware] = (),
    require_token: bool = True,
    assets: AssetSource | None = None,
    route_templates: Collection[str] = (),
) -> Starlette:
    """A service app with ``GET /api/health``, problem+json errors, request ids, the body limit,
    the service-token check (when ``settings.service_token`` is set and ``require_token``) and
    JSON logs. ``lifespan`` runs inside the shared one (load models there). ``outer_middleware``
    wraps the token and body-limit checks (CORS belongs there, so their refusals stay readable by
    a browser); ``middleware`` runs inside them. ``asset:<id>`` references in its requests are read
    through ``assets`` (default: the jobs service at ``settings.assets_url``, if set).

    Every service also answers ``GET /api/metrics`` (Prometheus; behind the token like the rest),
    counts and times its requests by route template (its own routes', plus ``route_templates``
    for paths it serves without a route, e.g. the gateway's proxied ones), and records a span per
    request when OpenTelemetry tracing is configured (:mod:`retouch.runtime.tracing`)."""

    def default_health() -> Health:
        return Health(service=name, version=version)

    provider = health or default_health

    async def health_endpoint(request: Request) -> Response:
        report = provider()
        return StructResponse(report, status_code=503 if report.status == "unhealthy" else 200)

    @contextlib.asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(name, settings.log_level, settings.log_json)
        configure_workers(settings.cpu_workers)
        configure_tracing(name)
        log.info("%s %s starting", name, version)
        pushing = None
        if settings.metrics_push_url:
            pushing = asyncio.get_running_loop().create_task(
                push_loop(settings.metrics_push_url, name, settings.metrics_push_s)
            )
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            if pushing is not None:
                pushing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pushing
        log.info("%s stopped", name)

    all_routes = [
        Route("/api/health", health_endpoint, methods=["GET"]),
        Route(METRICS_PATH, metrics_endpoint, methods=["GET"]),
        *routes,
    ]
    templates = RouteTemplates(all_routes, route_templates)
    stack: list[Middleware] = [
        Middleware(RequestContextMiddleware),
        # Outside everything else: refusals (401, 413) are counted, and the span is current while
        # the request is handled (proxied calls carry it on).
        Middleware(MetricsMiddleware, service=name, templates=templates),
        Middleware(TracingMiddleware, service=name, templates=templates),
        *outer_middleware,
    ]
    if settings.service_token and require_token:
        stack.append(Middleware(ServiceTokenMiddleware, token=settings.service_token, open_paths=open_paths))
    stack.append(
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            per_prefix={"/api/assets": (settings.max_asset_bytes, "RETOUCH_MAX_ASSET_BYTES")},
        )
    )
    if assets is None and settings.assets_url:
        assets = HttpAssetSource(settings.assets_url, service_token=settings.service_token)
    stack.append(Middleware(AssetContextMiddleware, source=assets))
    stack.extend(middleware)

    app = Starlette(
        routes=all_routes,
        middleware=stack,
        exception_handlers=problem_handlers(),
        lifespan=app_lifespan,
    )
    app.state.settings = settings
    app.state.service_name = name
    return app
