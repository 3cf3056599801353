"""The retouch contract: one schema module per service, plus the shared :mod:`.common` types.

Each module lists the public routes it types in ``ROUTES``; :func:`public_routes` gathers them
(the gateway's OpenAPI document is built from that list).
"""

from __future__ import annotations

import importlib

from retouch.sdk.models.common import FieldError, Health, Problem, RouteInfo, ServiceStatus, SystemHealth

__all__ = ["FieldError", "Health", "Problem", "RouteInfo", "ServiceStatus", "SystemHealth", "public_routes"]

#: Modules whose ``ROUTES`` make up the public API (API.md).
_ROUTE_MODULES = ("common", "image_utils", "segmentation", "generation", "jobs", "assets")


def public_routes() -> list[RouteInfo]:
    """Every public route, from every schema module that exists."""
    routes: list[RouteInfo] = []
    for name in _ROUTE_MODULES:
        try:
            module = importlib.import_module(f"retouch.sdk.models.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"retouch.sdk.models.{name}":
                raise
            continue
        routes.extend(getattr(module, "ROUTES", ()))
    return routes
