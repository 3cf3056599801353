"""The gateway app: the single public entry point in front of every retouch service."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from retouch.gateway.__about__ import __version__
from retouch.gateway.anonymous import AnonymousAccess
from retouch.gateway.auth import ApiKeys
from retouch.gateway.fairness import ClientFairness, FailedKeyLimiter
from retouch.gateway.health import HealthMonitor
from retouch.gateway.openapi import OpenAPIDocument
from retouch.gateway.proxy import Proxy
from retouch.gateway.ratelimit import RateLimiter
from retouch.gateway.router import GatewayRouter
from retouch.gateway.settings import GatewaySettings
from retouch.gateway.upstream import Upstreams
from retouch.runtime import create_service_app, load_settings
from retouch.sdk.models import public_routes

__all__ = ["create_app"]

log = logging.getLogger("retouch.gateway")


def _routes(settings: GatewaySettings, monitor: HealthMonitor, openapi: OpenAPIDocument) -> list[BaseRoute]:
    async def system_health(request: Request) -> Response:
        return Response(await monitor.report(), media_type="application/json", headers={"cache-control": "no-store"})

    async def openapi_json(request: Request) -> Response:
        return Response(openapi.encoded(), media_type="application/json")

    routes: list[BaseRoute] = [
        Route("/api/system/health", system_health, methods=["GET"]),
        Route("/api/openapi.json", openapi_json, methods=["GET"]),
    ]
    web_dir = settings.web_dir
    if web_dir is not None:
        if web_dir.is_dir():
            # Last, so every API route wins over a file of the same name.
            routes.append(Mount("/", app=StaticFiles(directory=web_dir, html=True), name="web"))
        else:
            log.warning("RETOUCH_WEB_DIR=%s is not a directory; the web editor is not served", web_dir)
    return routes


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    """The gateway (settings ``None``: read from the environment)."""
    settings = settings or load_settings(GatewaySettings)
    upstreams = Upstreams(settings)
    monitor = HealthMonitor(upstreams, settings, __version__)

    outer: list[Middleware] = []
    # Pages allowed to call anonymously must be able to read the answers too.
    cors_origins = list(dict.fromkeys([*settings.allowed_origins, *settings.anonymous_origins]))
    if cors_origins:
        # Outside the key check and the body limit: preflights carry no key, and a 401 or a 413
        # must still be readable by the page.
        outer.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
        )
    middleware = [
        Middleware(
            ClientFairness,
            max_requests=settings.max_requests_per_client,
            max_streams=settings.max_streams_per_client,
        ),
        Middleware(
            GatewayRouter,
            upstreams=upstreams,
            proxy=Proxy(settings),
            keys=ApiKeys(settings.api_keys),
            limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
            failed_keys=FailedKeyLimiter(settings.failed_key_per_minute, settings.failed_key_burst),
            anonymous=AnonymousAccess(
                settings.anonymous_origins,
                per_minute=settings.anonymous_rate_limit_per_minute,
                burst=settings.anonymous_rate_limit_burst,
                jobs_per_hour=settings.anonymous_jobs_per_hour,
            ),
        ),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for upstream in upstreams:
            log.info("%s -> %s", upstream.name, upstream.url or f"not configured ({upstream.url_var} unset)")
        try:
            yield
        finally:
            await upstreams.aclose()

    app = create_service_app(
        name="gateway",
        version=__version__,
        settings=settings,
        routes=_routes(settings, monitor, OpenAPIDocument(__version__)),
        lifespan=lifespan,
        middleware=middleware,
        outer_middleware=outer,
        # The gateway is public: callers present API keys, and it sends the service token on.
        require_token=False,
        # Proxied paths have no route here: their metrics are labelled with the public templates.
        route_templates=[route.path for route in public_routes()],
    )
    app.state.upstreams = upstreams
    return app
