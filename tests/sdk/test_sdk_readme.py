"""The public API reference in packages/sdk/README.md is the gateway's OpenAPI document: the same
routes, each with the same request schema and success answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from retouch.gateway.app import create_app
from retouch.gateway.settings import GatewaySettings

README = Path(__file__).resolve().parents[2] / "packages/sdk/README.md"
_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|")


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _names(content: dict[str, Any]) -> str:
    names = []
    for media_type, body in content.items():
        ref = body.get("schema", {}).get("$ref")
        names.append(f"`{ref.rsplit('/', 1)[-1]}`" if ref else media_type)
    return ", ".join(names) or "-"


def _expected(document: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(method, path) -> (request, success, the row to add) as the OpenAPI document says."""
    rows = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            request = _names(operation.get("requestBody", {}).get("content", {}))
            status, answer = next((s, a) for s, a in operation["responses"].items() if s.startswith("2"))
            content = _names(answer.get("content", {}))
            success = status if content == "-" else f"{status} {content}"
            summary = operation.get("summary", "").replace("|", "\\|")
            row = f"| {method.upper()} | `{path}` | {request} | {success} | {summary} |"
            rows[(method.upper(), path)] = (request, success, row)
    return rows


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    app = create_app(GatewaySettings(log_json=False))
    transport = httpx.ASGITransport(app=app)

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.get("/api/openapi.json")
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    import asyncio

    return asyncio.run(fetch())


def test_the_reference_lists_exactly_the_gateways_routes(openapi: dict[str, Any]) -> None:
    documented = {}
    for line in README.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            method, path = match.groups()
            cells = _cells(line)
            documented[(method, path)] = (cells[2], cells[3])
    expected = _expected(openapi)
    missing = [expected[key][2] for key in expected if key not in documented]
    assert not missing, "add these rows to the table in packages/sdk/README.md:\n" + "\n".join(missing)
    extra = sorted(key for key in documented if key not in expected)
    assert not extra, f"packages/sdk/README.md documents routes the gateway does not serve: {extra}"
    wrong = {
        f"{method} {path}": {"README": documented[(method, path)], "OpenAPI": expected[(method, path)][:2]}
        for method, path in expected
        if documented[(method, path)] != expected[(method, path)][:2]
    }
    assert not wrong, wrong


def test_no_doc_links_outside_the_repository() -> None:
    root = README.parents[2]
    docs = [root / "README.md", *root.glob("packages/*/README.md"), *root.glob("apps/*/README.md")]
    leaking = [str(doc.relative_to(root)) for doc in docs if "../shared" in doc.read_text()]
    assert leaking == []
