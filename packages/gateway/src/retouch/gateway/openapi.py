"""``GET /api/openapi.json``: the public API as OpenAPI 3.1, from the contract's own Structs.

The routes come from :func:`retouch.sdk.models.public_routes` (each schema module lists its own),
the schemas from msgspec, so the document cannot drift from what the services decode.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import msgspec

from retouch.sdk.codec import schema_hook
from retouch.sdk.models import public_routes
from retouch.sdk.models.common import Problem, RouteInfo

__all__ = ["OpenAPIDocument", "build_openapi"]

_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"{([^}/:]+)(?::[^}]*)?}")
_JSON = "application/json"
_PROBLEM = "application/problem+json"
#: Routes anyone may call, even when API keys are configured.
_OPEN = frozenset({("GET", "/api/health")})


def _raw_schema(media_type: str) -> dict[str, Any]:
    if media_type.startswith("text/"):
        return {"type": "string"}
    return {"type": "string", "format": "binary"}


def _operation_id(route: RouteInfo) -> str:
    words = re.sub(r"{[^}]*}", "", route.path.removeprefix("/api/"))
    slug = re.sub(r"[^A-Za-z0-9]+", "_", words).strip("_")
    return f"{route.method.lower()}_{slug}"


def build_openapi(version: str, routes: list[RouteInfo] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (default: every public route)."""
    if routes is None:
        routes = [
            *public_routes(),
            RouteInfo("GET", "/api/openapi.json", "gateway", "This document: the public API as OpenAPI 3.1"),
        ]
    types: list[Any] = [Problem]
    for route in routes:
        if route.request is not None:
            types.append(route.request)
        if route.response is not None and route.response_media_type == _JSON:
            types.append(route.response)
    schemas, components = msgspec.json.schema_components(types, schema_hook=schema_hook, ref_template=_REF)
    by_type = dict(zip(map(id, types), schemas, strict=True))
    problem_ref = {"$ref": _REF.format(name="Problem")}
    error = {"description": "An error, as RFC 9457 problem+json", "content": {_PROBLEM: {"schema": problem_ref}}}

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": route.summary,
            "tags": [route.service],
        }
        params = _PATH_PARAM.findall(route.path)
        if params:
            operation["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in params
            ]
        if route.query:
            operation.setdefault("parameters", []).extend(
                {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
                for name, text in route.query
            )
        if route.request is not None:
            operation["requestBody"] = {"required": True, "content": {_JSON: {"schema": by_type[id(route.request)]}}}
        success: dict[str, Any] = {"description": HTTPStatus(route.success_status).phrase}
        if route.response is not None or route.response_media_type != _JSON:
            schema = (
                by_type[id(route.response)]
                if route.response is not None and route.response_media_type == _JSON
                else _raw_schema(route.response_media_type)
            )
            success["content"] = {route.response_media_type: {"schema": schema}}
        operation["responses"] = {str(route.success_status): success, "default": error}
        if (route.method.upper(), route.path) in _OPEN:
            operation["security"] = []
        paths.setdefault(_PATH_PARAM.sub(r"{\1}", route.path), {})[route.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "retouch API",
            "version": version,
            "description": "AI image editing: object removal and insertion, white balance, smart masks, "
            "image utilities. Errors are application/problem+json.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key (RETOUCH_API_KEYS)"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


class OpenAPIDocument:
    """The encoded document, built on first use (so the schema modules load only if asked for)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._encoded: bytes | None = None

    def encoded(self) -> bytes:
        """The document as JSON bytes."""
        if self._encoded is None:
            self._encoded = msgspec.json.encode(build_openapi(self.version))
        return self._encoded
