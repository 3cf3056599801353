"""``GET /api/openapi.json``: an OpenAPI 3.1 document of every public route."""

from __future__ import annotations

from typing import Any

import httpx

from retouch.sdk.models import public_routes


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_document_structure(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    schemas = doc["components"]["schemas"]
    assert {"status", "title", "detail"} <= set(schemas["Problem"]["properties"])
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key (RETOUCH_API_KEYS)",
    }
    assert {"bearer": []} in doc["security"]
    # Every reference points at a schema the document defines.
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_every_public_route_is_described(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/api/openapi.json")).json()
    routes = public_routes()
    assert any(route.path == "/api/system/health" for route in routes)
    for route in routes:
        operation = doc["paths"][route.path][route.method.lower()]
        assert operation["summary"] == route.summary
        assert operation["tags"] == [route.service]
        responses = operation["responses"]
        assert str(route.success_status) in responses
        assert "application/problem+json" in responses["default"]["content"]
        if route.request is not None:
            assert "application/json" in operation["requestBody"]["content"]
        for name in (part[1:-1] for part in route.path.split("/") if part.startswith("{")):
            assert {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} in operation[
                "parameters"
            ]
    operation_ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_health_is_marked_open(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/api/openapi.json")).json()
    assert doc["paths"]["/api/health"]["get"]["security"] == []
    assert "security" not in doc["paths"]["/api/system/health"]["get"]
    health = doc["paths"]["/api/system/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health == {"$ref": "#/components/schemas/SystemHealth"}


async def test_job_list_and_delete_are_documented(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/api/openapi.json")).json()
    listing = doc["paths"]["/api/generate"]["get"]
    assert {param["name"] for param in listing["parameters"] if param["in"] == "query"} == {"status", "limit", "cursor"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobPage"
    }
    assert "post" in doc["paths"]["/api/generate"]
    delete = doc["paths"]["/api/generate/{task_id}"]["delete"]
    assert "204" in delete["responses"]
    assert delete["parameters"][0] == {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
