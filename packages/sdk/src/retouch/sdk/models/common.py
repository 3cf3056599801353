"""Types shared by every service: health reports and RFC 9457 problem documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

__all__ = ["ROUTES", "FieldError", "Health", "HealthState", "Problem", "RouteInfo", "ServiceStatus", "SystemHealth"]

#: A service's state; ``idle`` is a scale-to-zero service asleep (not a fault).
HealthState = Literal["healthy", "loading", "degraded", "unhealthy", "idle"]


class Health(msgspec.Struct, kw_only=True):
    """``GET /api/health`` of one service: who it is and whether it can serve requests now.

    Every field is always written: API.md promises ``status`` even when it is the default.
    """

    status: HealthState = "healthy"
    service: str
    version: str
    engine: str | None = None
    device: str | None = None
    ready: bool = True
    detail: str | None = None
    #: Generation: per task (and ``fast``), how the engine does it: ``lora (...)``, ``base model
    #: (...)`` or ``unavailable: <why>``; ``None`` where the engine has no such distinction.
    tasks: dict[str, str] | None = None
    #: Every engine the service serves (``engine`` is the default among them); ``None`` where it
    #: has no engines. A client offers only these.
    engines: list[str] | None = None


class ServiceStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One service as seen by the gateway's ``/api/system/health``."""

    status: HealthState
    latency_ms: float | None = None
    version: str | None = None
    engine: str | None = None
    error: str | None = None
    url: str | None = None
    #: The engines it serves (its ``/api/health`` ``engines``), where it has any.
    engines: list[str] | None = None


class SystemHealth(msgspec.Struct, kw_only=True):
    """``GET /api/system/health``: the gateway's view of every service."""

    status: Literal["healthy", "degraded", "unhealthy"]
    services: dict[str, ServiceStatus]
    version: str | None = None


class FieldError(msgspec.Struct, kw_only=True):
    """One invalid field of a request: where (a JSON path such as ``$.points[2]``) and why."""

    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 ``application/problem+json`` document; ``detail`` is always a string."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


@dataclass(frozen=True)
class RouteInfo:
    """One public route of API.md: who owns it and which contract types it speaks.

    The gateway builds its OpenAPI document from these; each model module lists its own in
    ``ROUTES``.
    """

    method: str
    path: str
    service: str
    summary: str
    request: Any = None
    response: Any = None
    #: Media type of a successful answer when it is not JSON (an image, an event stream).
    response_media_type: str = "application/json"
    success_status: int = 200
    #: Query parameters the route reads: ``(name, description)`` pairs.
    query: tuple[tuple[str, str], ...] = ()


#: The gateway's own public routes.
ROUTES: tuple[RouteInfo, ...] = (
    RouteInfo("GET", "/api/health", "gateway", "Health of the gateway itself", response=Health),
    RouteInfo("GET", "/api/system/health", "gateway", "Health of every service, aggregated", response=SystemHealth),
)
