"""Forwarding: routing by prefix, pass-through of answers, headers, bodies, and upstream failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_fakes import PROBLEM_JSON, TOKEN, FakeService, MakeGateway, closed_port

from retouch.gateway.auth import owner_id


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/image-utils/extract-object", "image_utils"),
        ("/api/smart-mask", "segmentation"),
        ("/api/smart-mask/cancel/r1", "segmentation"),
        ("/api/generate", "job_manager"),
        ("/api/generate/async", "job_manager"),
        ("/api/generate/status/t1", "job_manager"),
    ],
)
async def test_routes_by_prefix_to_the_owning_service(
    gateway: httpx.AsyncClient, fakes: dict[str, FakeService], path: str, service: str
) -> None:
    response = await gateway.post(path, json={"x": 1})
    assert response.status_code == 200
    assert response.json()["service"] == service
    assert response.json()["path"] == path
    assert response.headers["x-fake"] == service
    assert [seen.path for seen in fakes[service].seen] == [path]


@pytest.mark.parametrize(
    "path",
    [
        "/api/generation/run",  # internal: the generation service is not public
        "/api/generation/cancel/r1",
        "/api/nothing-here",
        "/api/generated",  # a prefix match must end at a path segment
        "/api/smart-masks",
        "/api/generate/../generation/run",  # dot segments would let a caller reach internal paths
        "/api/image-utils/%2e%2e/%2e%2e/api/generation/run",
    ],
)
async def test_unknown_and_internal_routes_are_404_for_any_method(
    gateway: httpx.AsyncClient, fakes: dict[str, FakeService], path: str
) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = await gateway.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"] == PROBLEM_JSON
        assert isinstance(response.json()["detail"], str)
    assert all(not service.seen for service in fakes.values())


async def test_wrong_method_on_a_gateway_route_is_405(gateway: httpx.AsyncClient) -> None:
    for path in ("/api/system/health", "/api/openapi.json", "/api/health"):
        response = await gateway.post(path, json={})
        assert response.status_code == 405, path
        assert response.headers["content-type"] == PROBLEM_JSON


async def test_upstream_statuses_and_problem_bodies_are_kept(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/generate/problem")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no task xyz"}

    # Whatever the service answers, the client gets: a 404 stays a 404, a 405 a 405 (not the gateway's own).
    for code in (404, 405, 409, 500):
        response = await gateway.post(f"/api/smart-mask/status/{code}")
        assert response.status_code == code
        assert response.text == f"fake {code}"
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["allow"] == "GET"

    response = await gateway.post("/api/generate/created", json={})
    assert response.status_code == 202
    assert response.json() == {"task_id": "t1", "status": "queued"}


async def test_headers_are_forwarded_and_forged_identity_headers_stripped(
    gateway: httpx.AsyncClient, fakes: dict[str, FakeService]
) -> None:
    response = await gateway.post(
        "/api/generate/async?wait=1&x=%20y",
        content=b'{"prompt": ""}',
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            "idempotency-key": "key-123",
            "last-event-id": "7",
            "x-request-id": "req-abc",
            "x-retouch-owner": "somebody-else",
            "x-service-token": "forged",
            "cookie": "session=secret",
        },
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc"
    [seen] = fakes["job_manager"].seen
    assert seen.method == "POST"
    assert seen.query == "wait=1&x=%20y"
    assert seen.body == b'{"prompt": ""}'
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "key-123"
    assert seen.headers["last-event-id"] == "7"
    assert seen.headers["x-request-id"] == "req-abc"
    assert seen.headers["x-retouch-owner"] == "anonymous"
    assert seen.headers["x-service-token"] == TOKEN
    assert "cookie" not in seen.headers


async def test_a_request_id_is_generated_and_sent_on_when_the_client_has_none(
    gateway: httpx.AsyncClient, fakes: dict[str, FakeService]
) -> None:
    response = await gateway.get("/api/image-utils/get-only")
    assert response.status_code == 200
    generated = response.headers["x-request-id"]
    assert generated
    assert fakes["image_utils"].seen[0].headers["x-request-id"] == generated


async def test_owner_is_the_key_hash_and_the_key_itself_is_not_forwarded(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(api_keys=["key-one", "key-two"])
    response = await gateway.post(
        "/api/smart-mask", json={}, headers={"authorization": "Bearer key-two", "x-retouch-owner": "key-one-owner"}
    )
    assert response.status_code == 200
    [seen] = fakes["segmentation"].seen
    assert seen.headers["x-retouch-owner"] == owner_id("key-two")
    assert len(owner_id("key-two")) == 24
    assert "authorization" not in seen.headers


async def test_unconfigured_service_is_503_naming_it(make_gateway: MakeGateway, fakes: dict[str, FakeService]) -> None:
    gateway = await make_gateway(urls={"image_utils": fakes["image_utils"].url})
    response = await gateway.post("/api/smart-mask", json={})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "segmentation service is not configured" in response.json()["detail"]
    assert "SEGMENTATION_SERVICE_URL" in response.json()["detail"]
    assert (await gateway.get("/api/image-utils/get-only")).status_code == 200


async def test_unreachable_service_is_503_naming_it(make_gateway: MakeGateway, fakes: dict[str, FakeService]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    gateway = await make_gateway(urls={"image_utils": url}, upstream_retries=0)
    response = await gateway.post("/api/image-utils/extract-object", json={})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    detail = response.json()["detail"]
    assert detail.startswith(f"image_utils service is unreachable at {url}")


async def test_upstream_timeout_is_504_naming_the_service(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(read_timeout_s=0.2, upstream_retries=0)
    response = await gateway.post("/api/generate/slow", json={})
    assert response.status_code == 504
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "job_manager service did not answer within 0.2 s"


async def test_a_chunked_request_body_reaches_the_service_whole(
    gateway: httpx.AsyncClient, fakes: dict[str, FakeService]
) -> None:
    arrived = fakes["image_utils"].first_chunk_arrived

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        await asyncio.sleep(0.2)
        # Read whole before the service is called: a slow sender holds no service connection.
        assert not arrived.is_set(), "the service was called before the body was complete"
        yield b"b" * 2000

    response = await gateway.post("/api/image-utils/upload", content=body())
    assert response.status_code == 200
    assert response.json()["received"] == 3000


async def test_large_response_body_passes_through_intact(gateway: httpx.AsyncClient) -> None:
    size = 3 * 1024 * 1024 + 17
    response = await gateway.get("/api/image-utils/download", params={"size": size})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert len(response.content) == size
    assert response.content[-1] == (size - 1) // 65536 % 256


async def test_body_over_the_limit_is_413_before_reaching_the_service(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(max_body_bytes=1000)
    response = await gateway.post("/api/image-utils/extract-object", content=b"x" * 1001)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON

    async def body() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 400

    response = await gateway.post("/api/image-utils/upload", content=body())
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]
    assert not fakes["image_utils"].seen


async def test_deployment_headers_go_to_every_service_call(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(upstream_headers={"Modal-Key": "wk-1", "Modal-Secret": "ws-2"})
    response = await gateway.post("/api/smart-mask", json={}, headers={"modal-key": "from-the-client"})
    assert response.status_code == 200
    [seen] = fakes["segmentation"].seen
    assert seen.headers["modal-key"] == "wk-1"
    assert seen.headers["modal-secret"] == "ws-2"
    assert seen.headers["x-service-token"] == TOKEN
    await gateway.get("/api/system/health")
    assert fakes["segmentation"].health_headers["modal-key"] == "wk-1"
    assert fakes["segmentation"].health_headers["x-service-token"] == TOKEN


async def test_a_streamed_body_whose_first_piece_is_over_the_limit_is_413(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(max_body_bytes=1000)

    async def body() -> AsyncIterator[bytes]:
        yield b"z" * 1001

    response = await gateway.post("/api/image-utils/upload", content=body())
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "1000 bytes" in response.json()["detail"]
    assert not fakes["image_utils"].seen


async def test_a_request_body_that_stalls_is_408_and_never_holds_the_connection(make_gateway: MakeGateway) -> None:
    # One connection only: a client that stops sending must not hold it, even while it stalls.
    gateway = await make_gateway(body_timeout_s=0.5, upstream_max_connections=1, read_timeout_s=5)
    started = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 100
        started.set()
        await asyncio.sleep(1.5)
        yield b"b" * 100

    slow = asyncio.ensure_future(gateway.post("/api/image-utils/upload", content=body()))
    await started.wait()
    # Answered while the slow body is still being waited for: it holds no service connection.
    assert (await gateway.get("/api/image-utils/get-only")).status_code == 200
    assert not slow.done()
    response = await slow
    assert response.status_code == 408
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "too slowly" in response.json()["detail"]


async def test_a_body_that_never_starts_is_408(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(body_timeout_s=0.3)

    async def body() -> AsyncIterator[bytes]:
        await asyncio.sleep(1.0)
        yield b"late"

    response = await gateway.post("/api/image-utils/upload", content=body())
    assert response.status_code == 408
    assert "nothing arrived for 0.3 s" in response.json()["detail"]
