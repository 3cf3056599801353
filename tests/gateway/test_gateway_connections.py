"""The gateway's connections to a service: kept alive, reused, and recovered when the service drops them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from gateway_fakes import PROBLEM_JSON, FakeService, MakeGateway, gateway_settings, serve
from starlette.types import Message

from retouch.gateway.app import create_app


async def test_sequential_calls_reuse_one_connection(gateway: httpx.AsyncClient, fakes: dict[str, FakeService]) -> None:
    for _ in range(5):
        assert (await gateway.get("/api/image-utils/get-only")).status_code == 200
    ports = {seen.client_port for seen in fakes["image_utils"].seen}
    assert len(ports) == 1


async def test_concurrent_calls_open_several_connections(
    gateway: httpx.AsyncClient, fakes: dict[str, FakeService]
) -> None:
    answers = await asyncio.gather(*(gateway.post("/api/generate/echo?delay=0.2", json={}) for _ in range(4)))
    assert all(answer.status_code == 200 for answer in answers)
    assert len({seen.client_port for seen in fakes["job_manager"].seen}) == 4
    # Afterwards they are all kept for reuse: four more calls open no new connection.
    ports = {seen.client_port for seen in fakes["job_manager"].seen}
    await asyncio.gather(*(gateway.post("/api/generate/echo?delay=0.2", json={}) for _ in range(4)))
    assert {seen.client_port for seen in fakes["job_manager"].seen} == ports


async def test_a_connection_the_service_closed_while_idle_is_not_used(make_gateway: MakeGateway) -> None:
    service = FakeService("image_utils")
    with serve(service.app(), keep_alive=1) as url:
        gateway = await make_gateway(urls={"image_utils": url})
        for _ in range(2):
            for method in ("GET", "POST"):
                response = await gateway.request(method, "/api/image-utils/echo", content=b"{}")
                assert response.status_code == 200
            # The service drops the idle connection meanwhile (before the gateway's own expiry).
            await asyncio.sleep(1.3)
    assert len(service.seen) == 4
    assert len({seen.client_port for seen in service.seen}) == 2


async def test_connection_close_from_the_service(gateway: httpx.AsyncClient, fakes: dict[str, FakeService]) -> None:
    for _ in range(3):
        assert (await gateway.get("/api/image-utils/closing")).json() == {"closing": True}
        assert (await gateway.get("/api/image-utils/get-only")).status_code == 200


async def test_head_requests(gateway: httpx.AsyncClient, fakes: dict[str, FakeService]) -> None:
    for _ in range(2):
        response = await gateway.head("/api/image-utils/get-only")
        assert response.status_code == 200
        assert response.content == b""
        assert int(response.headers["content-length"]) > 0
    assert (await gateway.get("/api/image-utils/get-only")).json()["method"] == "GET"


async def test_streamed_body_with_a_declared_length(gateway: httpx.AsyncClient, fakes: dict[str, FakeService]) -> None:
    async def body() -> AsyncIterator[bytes]:
        for index in range(5):
            yield bytes([index]) * 100_000
            await asyncio.sleep(0)

    response = await gateway.post("/api/image-utils/upload", content=body(), headers={"content-length": "500000"})
    assert response.status_code == 200
    assert response.json()["received"] == 500_000


async def test_service_refusing_before_reading_the_body(gateway: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"z" * 65536
            await asyncio.sleep(0)

    response = await gateway.post("/api/image-utils/early", content=body())
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "too big"
    # The gateway still works afterwards.
    assert (await gateway.get("/api/image-utils/get-only")).status_code == 200


async def test_service_dying_mid_answer_is_not_passed_off_as_complete(fakes: dict[str, FakeService]) -> None:
    # A raw socket server that promises 1000 bytes, sends 10, and hangs up.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 1000\r\n\r\n0123456789")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = create_app(gateway_settings(fakes, {"image_utils": f"http://127.0.0.1:{port}"}))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/image-utils/anything",
        "raw_path": b"/api/image-utils/anything",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    async with server, app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    body = [message for message in sent if message["type"] == "http.response.body"]
    assert b"".join(message["body"] for message in body) == b"0123456789"
    # The response is left unfinished, so the server drops the connection instead of ending it cleanly.
    assert all(message.get("more_body", False) for message in body)


async def test_garbage_from_the_service_is_502(make_gateway: MakeGateway) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        gateway = await make_gateway(urls={"image_utils": f"http://127.0.0.1:{port}"})
        response = await gateway.post("/api/image-utils/extract-object", json={})
    assert response.status_code == 502
    assert response.json()["detail"].startswith("image_utils service failed to answer")


async def test_a_call_waits_for_a_busy_pool_no_longer_than_the_read_timeout(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(read_timeout_s=0.3, upstream_max_connections=1)
    # An event stream holds the only connection (streams have no read timeout) until released.
    stream = asyncio.create_task(gateway.get("/api/generate/stream/t1"))
    await asyncio.sleep(0.5)
    assert not stream.done()
    response = await gateway.get("/api/generate/status/t1")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "all 1 connections" in response.json()["detail"]
    fakes["job_manager"].release_second_event.set()
    assert (await stream).status_code == 200
    assert (await gateway.get("/api/generate/status/t1")).status_code == 200
