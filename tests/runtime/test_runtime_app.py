"""The shared app factory: health, problem+json for every error, request ids, token, body limit."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import retouch.runtime.middleware as middleware_module
from retouch.runtime import ProblemError, ServiceSettings, StructResponse, create_service_app, read_struct
from retouch.sdk.models.common import Health, Problem

TOKEN = "s3cret-token"


class Order(msgspec.Struct, kw_only=True):
    name: str
    count: int = 1


async def echo(request: Request) -> Response:
    order = await read_struct(request, Order)
    return StructResponse(order, status_code=201)


async def boom(request: Request) -> Response:
    raise RuntimeError("secret internals: password=hunter2")


async def teapot(request: Request) -> Response:
    raise ProblemError(429, "slow down", headers={"Retry-After": "7"})


async def size(request: Request) -> Response:
    return JSONResponse({"bytes": len(await request.body())})


ROUTES = [
    Route("/api/echo", echo, methods=["POST"]),
    Route("/api/boom", boom, methods=["GET"]),
    Route("/api/limited", teapot, methods=["GET"]),
    Route("/api/size", size, methods=["POST"]),
]


def make_app(token: str | None = None, max_body: int = 1024, **kwargs: object) -> Starlette:
    settings = ServiceSettings(service_token=token, max_body_bytes=max_body)
    return create_service_app(name="demo", version="1.2.3", settings=settings, routes=ROUTES, **kwargs)  # type: ignore[arg-type]


def client(app: Starlette, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc", headers=headers)


def problem_of(response: httpx.Response) -> Problem:
    assert response.headers["content-type"] == "application/problem+json"
    problem = msgspec.json.decode(response.content, type=Problem)
    assert problem.status == response.status_code
    assert isinstance(problem.detail, str) and problem.detail
    assert problem.request_id == response.headers["x-request-id"]
    return problem


async def test_health() -> None:
    async with client(make_app()) as c:
        response = await c.get("/api/health")
    assert response.status_code == 200
    assert msgspec.json.decode(response.content, type=Health) == Health(service="demo", version="1.2.3")
    # API.md: the answer always says its status, even the default one.
    assert response.json()["status"] == "healthy"


async def test_health_provider_and_unhealthy_is_503() -> None:
    state = {"status": "loading"}

    def health() -> Health:
        return Health(service="demo", version="1", status=state["status"], engine="classic", ready=False)  # type: ignore[arg-type]

    async with client(make_app(health=health)) as c:
        loading = await c.get("/api/health")
        state["status"] = "unhealthy"
        down = await c.get("/api/health")
    assert loading.status_code == 200
    assert loading.json()["engine"] == "classic"
    assert loading.json()["status"] == "loading"
    assert down.status_code == 503


async def test_unknown_route_is_404_problem() -> None:
    async with client(make_app()) as c:
        response = await c.get("/api/nope")
    assert response.status_code == 404
    problem = problem_of(response)
    assert problem.detail == "no route /api/nope"
    assert problem.instance == "/api/nope"


async def test_wrong_method_is_405_problem() -> None:
    async with client(make_app()) as c:
        response = await c.get("/api/echo")
    assert response.status_code == 405
    assert problem_of(response).detail == "GET is not allowed on /api/echo"
    assert "POST" in response.headers["allow"]


async def test_struct_body_roundtrip() -> None:
    async with client(make_app()) as c:
        response = await c.post("/api/echo", json={"name": "x", "count": 2, "ignored": True})
    assert response.status_code == 201
    assert response.json() == {"name": "x", "count": 2}


@pytest.mark.parametrize(
    ("body", "status", "field", "detail"),
    [
        (b'{"name": 5}', 422, "name", "Expected `str`, got `int`"),
        (b'{"name": "x", "count": "two"}', 422, "count", "Expected `int`, got `str`"),
        (b"{}", 422, "body", "missing required field `name`"),
        (b"[1, 2]", 422, "body", "Expected `object`, got `array`"),
        (b"", 422, None, "body: a JSON object is required"),
        (b"{not json", 400, None, "body is not valid JSON"),
    ],
)
async def test_bad_bodies_are_4xx_naming_the_field(body: bytes, status: int, field: str | None, detail: str) -> None:
    async with client(make_app()) as c:
        response = await c.post("/api/echo", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    problem = problem_of(response)
    assert detail in problem.detail
    if field is not None:
        assert problem.errors is not None and problem.errors[0].field == field
        assert problem.detail.startswith(f"{field}: ")


async def test_unexpected_error_is_500_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    async with client(make_app(), **{"X-Request-ID": "req-500"}) as c:
        response = await c.get("/api/boom")
    assert response.status_code == 500
    problem = problem_of(response)
    assert problem.request_id == "req-500"
    assert "hunter2" not in response.text and "Traceback" not in response.text and "RuntimeError" not in response.text
    assert "request id" in problem.detail
    # The details go to the log instead, with the request id.
    record = next(r for r in caplog.records if r.exc_info)
    assert "hunter2" in str(record.exc_info[1])  # type: ignore[index]
    assert middleware_module.request_id_var.get() is None  # reset after the request


async def test_problem_error_headers_are_kept() -> None:
    async with client(make_app()) as c:
        response = await c.get("/api/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert problem_of(response).title == "Too Many Requests"


async def test_request_id_is_accepted_and_echoed() -> None:
    async with client(make_app()) as c:
        ok = await c.get("/api/health", headers={"X-Request-ID": "abc-123.X:y"})
        missing = await c.get("/api/nope", headers={"X-Request-ID": "mine"})
    assert ok.headers["x-request-id"] == "abc-123.X:y"
    assert missing.headers["x-request-id"] == "mine"
    assert problem_of(missing).request_id == "mine"


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "bad\u00e9"])
async def test_request_id_is_generated_when_absent_or_unsafe(given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given.encode("utf-8")}
    async with client(make_app()) as c:
        first = await c.get("/api/health", headers=headers)
        second = await c.get("/api/health", headers=headers)
    generated = first.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert second.headers["x-request-id"] != generated
    assert first.headers.get_list("x-request-id") == [generated]


async def test_service_token_is_required_except_on_health() -> None:
    app = make_app(token=TOKEN)
    async with client(app) as c:
        missing = await c.post("/api/echo", json={"name": "x"})
        wrong = await c.post("/api/echo", json={"name": "x"}, headers={"X-Service-Token": "nope"})
        near = await c.post("/api/echo", json={"name": "x"}, headers={"X-Service-Token": TOKEN + "x"})
        right = await c.post("/api/echo", json={"name": "x"}, headers={"X-Service-Token": TOKEN})
        health = await c.get("/api/health")
        unknown = await c.get("/api/nope")
        options = await c.options("/api/echo")
    for response in (missing, wrong, near):
        assert response.status_code == 401
        assert "service token" in problem_of(response).detail
    assert right.status_code == 201
    assert health.status_code == 200
    # Unknown routes do not reveal themselves to callers without the token.
    assert unknown.status_code == 401
    assert options.status_code != 401


async def test_service_token_uses_a_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = middleware_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(middleware_module.hmac, "compare_digest", spy)
    async with client(make_app(token=TOKEN)) as c:
        await c.post("/api/echo", json={"name": "x"}, headers={"X-Service-Token": "guess"})
    assert calls == [(b"guess", TOKEN.encode())]


async def test_open_paths_and_require_token_false() -> None:
    async with client(make_app(token=TOKEN, open_paths=("/api/health", "/api/echo"))) as c:
        assert (await c.post("/api/echo", json={"name": "x"})).status_code == 201
        assert (await c.post("/api/size", content=b"x")).status_code == 401
    async with client(make_app(token=TOKEN, require_token=False)) as c:
        assert (await c.post("/api/size", content=b"x")).status_code == 200


async def test_no_token_configured_means_no_check() -> None:
    async with client(make_app(token=None)) as c:
        assert (await c.post("/api/size", content=b"x")).status_code == 200


async def test_body_limit_by_content_length() -> None:
    async with client(make_app(max_body=100)) as c:
        at_limit = await c.post("/api/size", content=b"x" * 100)
        over = await c.post("/api/size", content=b"x" * 101)
    assert at_limit.json() == {"bytes": 100}
    assert over.status_code == 413
    assert "100 bytes" in problem_of(over).detail
    assert "RETOUCH_MAX_BODY_BYTES" in problem_of(over).detail


async def test_body_limit_when_streamed_without_length() -> None:
    async def chunks(count: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            yield b"y" * 40

    async with client(make_app(max_body=100)) as c:
        small = await c.post("/api/size", content=chunks(2))
        big = await c.post("/api/size", content=chunks(5))
    assert "content-length" not in small.request.headers
    assert small.json() == {"bytes": 80}
    assert big.status_code == 413
    assert "RETOUCH_MAX_BODY_BYTES" in problem_of(big).detail


async def test_invalid_content_length_is_400() -> None:
    app = make_app()
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/size",
        "raw_path": b"/api/size",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"svc"), (b"content-length", b"-5")],
        "client": ("127.0.0.1", 1),
        "server": ("svc", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert b"invalid Content-Length" in sent[1]["body"]  # type: ignore[operator]
