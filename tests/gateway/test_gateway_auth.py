"""API keys, per-key rate limits and CORS."""

from __future__ import annotations

import httpx
import pytest
from gateway_fakes import PROBLEM_JSON, FakeService, MakeGateway

KEYS = ["alpha-key-0123456789", "beta-key-9876543210"]


@pytest.fixture
async def keyed(make_gateway: MakeGateway) -> httpx.AsyncClient:
    return await make_gateway(api_keys=KEYS)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-key"},
        {"authorization": "Bearer "},
        {"authorization": "Basic " + KEYS[0]},
        {"authorization": KEYS[0]},
        {"authorization": "Bearer " + KEYS[0][:-1]},
        {"authorization": "Bearer " + KEYS[0] + "x"},
        {"x-api-key": "nope"},
    ],
)
async def test_missing_or_wrong_key_is_401(
    keyed: httpx.AsyncClient, fakes: dict[str, FakeService], headers: dict[str, str]
) -> None:
    for method, path in [
        ("POST", "/api/image-utils/extract-object"),
        ("GET", "/api/generate/status/t1"),
        ("GET", "/api/system/health"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/unknown"),
    ]:
        response = await keyed.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "API key" in response.json()["detail"]
    assert all(not service.seen for service in fakes.values())


async def test_right_key_passes_as_bearer_or_x_api_key(keyed: httpx.AsyncClient) -> None:
    for headers in (
        {"authorization": f"Bearer {KEYS[0]}"},
        {"authorization": f"bearer {KEYS[1]}"},
        {"x-api-key": KEYS[1]},
    ):
        response = await keyed.post("/api/image-utils/extract-object", json={}, headers=headers)
        assert response.status_code == 200, headers
    assert (await keyed.get("/api/openapi.json", headers={"x-api-key": KEYS[0]})).status_code == 200


async def test_health_is_open_without_a_key(keyed: httpx.AsyncClient) -> None:
    response = await keyed.get("/api/health")
    assert response.status_code == 200
    assert response.json()["service"] == "gateway"


async def test_rate_limit_is_per_key_with_retry_after(make_gateway: MakeGateway, fakes: dict[str, FakeService]) -> None:
    gateway = await make_gateway(api_keys=KEYS, rate_limit_per_minute=6, rate_limit_burst=3)
    first = {"authorization": f"Bearer {KEYS[0]}"}
    for _ in range(3):
        assert (await gateway.get("/api/generate/status/t1", headers=first)).status_code == 200
    limited = await gateway.get("/api/generate/status/t1", headers=first)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == PROBLEM_JSON
    # 6 a minute: the next token is due within 10 s.
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert len(fakes["job_manager"].seen) == 3
    # Another key has its own bucket; health is never limited.
    assert (await gateway.get("/api/generate/status/t1", headers={"x-api-key": KEYS[1]})).status_code == 200
    assert (await gateway.get("/api/health")).status_code == 200


async def test_no_rate_limit_when_set_to_zero(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(api_keys=KEYS, rate_limit_per_minute=0, rate_limit_burst=1)
    for _ in range(5):
        assert (await gateway.get("/api/generate/status/t1", headers={"x-api-key": KEYS[0]})).status_code == 200


async def test_cors_preflight_needs_no_key_and_names_the_origin(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(api_keys=KEYS, allowed_origins=["https://editor.example"])
    response = await gateway.options(
        "/api/smart-mask",
        headers={
            "origin": "https://editor.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://editor.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()

    refused = await gateway.options(
        "/api/smart-mask",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_headers_on_answers_and_errors(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(api_keys=KEYS, allowed_origins=["https://editor.example"])
    origin = {"origin": "https://editor.example"}
    ok = await gateway.get("/api/generate/status/t1", headers={**origin, "x-api-key": KEYS[0]})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://editor.example"
    assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()
    # A page must be able to read the 401 to tell its user about the key.
    denied = await gateway.get("/api/generate/status/t1", headers=origin)
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "https://editor.example"


async def test_a_body_over_the_limit_is_refused_readably_for_the_page(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(allowed_origins=["https://editor.example"], max_body_bytes=1000)
    response = await gateway.post(
        "/api/image-utils/convert",
        content=b"x" * 5000,
        headers={"origin": "https://editor.example", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["access-control-allow-origin"] == "https://editor.example"


async def test_no_cors_headers_when_no_origins_are_configured(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/health", headers={"origin": "https://editor.example"})
    assert "access-control-allow-origin" not in response.headers
