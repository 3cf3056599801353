"""Fake upstream services for the gateway tests, served by uvicorn on real loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from retouch.gateway.settings import GatewaySettings

PROBLEM_JSON = "application/problem+json"
#: The service token the gateways under test send to the fakes.
TOKEN = "test-service-token"
#: The ``make_gateway`` fixture: ``await make_gateway(**settings)`` -> a client of a new gateway.
MakeGateway = Callable[..., Awaitable[httpx.AsyncClient]]


@dataclass
class Seen:
    """One request as a fake service received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    #: The gateway's side of the connection (the same port means a reused connection).
    client_port: int


@dataclass
class FakeService:
    """A stand-in for one retouch service; tests tune its behaviour and read what it saw."""

    name: str
    url: str = ""
    health_status: str = "healthy"
    health_http_status: int = 200
    health_delay: float = 0.0
    health_hits: int = 0
    #: Headers of the last health probe.
    health_headers: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    #: Set by the test to let the event stream send its second event.
    release_second_event: threading.Event = field(default_factory=threading.Event)
    #: Set by the fake when the first chunk of a streamed upload has arrived.
    first_chunk_arrived: threading.Event = field(default_factory=threading.Event)
    #: Set by the fake when a client of its event stream went away.
    stream_closed: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Forget what happened in an earlier test."""
        self.health_status = "healthy"
        self.health_http_status = 200
        self.health_delay = 0.0
        self.health_hits = 0
        self.health_headers = {}
        self.seen.clear()
        self.release_second_event.clear()
        self.first_chunk_arrived.clear()
        self.stream_closed.clear()

    # -- routes ---------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        self.health_hits += 1
        self.health_headers = dict(request.headers.items())
        if self.health_delay:
            await asyncio.sleep(self.health_delay)
        body = {"status": self.health_status, "service": self.name, "version": "9.9.9", "engine": f"{self.name}-engine"}
        return JSONResponse(body, status_code=self.health_http_status)

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        if "delay" in request.query_params:
            await asyncio.sleep(float(request.query_params["delay"]))
        port = request.client.port if request.client else 0
        headers = dict(request.headers.items())
        self.seen.append(Seen(request.method, request.url.path, request.url.query, headers, body, port))
        return JSONResponse(
            {"service": self.name, "method": request.method, "path": request.url.path, "body_len": len(body)},
            headers={"x-fake": self.name},
        )

    async def problem(self, request: Request) -> Response:
        body = b'{"type":"about:blank","title":"Not Found","status":404,"detail":"no task xyz"}'
        return Response(body, status_code=404, media_type=PROBLEM_JSON)

    async def status(self, request: Request) -> Response:
        code = request.path_params["code"]
        return Response(f"fake {code}", status_code=code, media_type="text/plain", headers={"allow": "GET"})

    async def created(self, request: Request) -> Response:
        return JSONResponse({"task_id": "t1", "status": "queued"}, status_code=202)

    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(3)
        return JSONResponse({"late": True})

    async def closing(self, request: Request) -> Response:
        return JSONResponse({"closing": True}, headers={"connection": "close"})

    async def early(self, request: Request) -> Response:
        # Refuses without reading the body, as a service's body limit does.
        return Response(b'{"status":413,"title":"Content Too Large","detail":"too big"}', 413, media_type=PROBLEM_JSON)

    async def upload(self, request: Request) -> Response:
        total = 0
        chunks = 0
        async for chunk in request.stream():
            if chunk:
                chunks += 1
                total += len(chunk)
                self.first_chunk_arrived.set()
        return JSONResponse({"received": total, "chunks": chunks})

    async def download(self, request: Request) -> Response:
        size = int(request.query_params.get("size", "1000000"))

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            while sent < size:
                part = min(65536, size - sent)
                yield bytes([sent // 65536 % 256]) * part
                sent += part

        return StreamingResponse(chunks(), media_type="image/png")

    async def events(self, request: Request) -> Response:
        release = self.release_second_event
        closed = self.stream_closed
        # ?heartbeat=S: ": heartbeat" comments every S seconds while waiting, as the jobs service sends.
        every = float(request.query_params.get("heartbeat", "0"))

        async def stream() -> AsyncIterator[bytes]:
            try:
                last = request.headers.get("last-event-id", "")
                yield f"id: 1\nevent: progress\ndata: first after {last or 'start'}\n\n".encode()
                deadline = time.monotonic() + 10
                beat = time.monotonic() + every
                # A threading.Event: the test (another thread, another loop) sets it.
                while not release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                    if every and time.monotonic() >= beat:
                        beat += every
                        yield b": heartbeat\n\n"
                yield b"id: 2\nevent: done\ndata: second\n\n"
            finally:
                closed.set()

        return StreamingResponse(stream(), media_type="text/event-stream")

    def app(self) -> Starlette:
        """The Starlette app of this fake."""
        any_method = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        prefix = {
            "image_utils": "/api/image-utils",
            "segmentation": "/api/smart-mask",
            "job_manager": "/api/generate",
            "generation": "/api/generation",
        }[self.name]
        return Starlette(
            routes=[
                Route("/api/health", self.health, methods=["GET"]),
                Route(f"{prefix}/problem", self.problem, methods=["GET"]),
                Route(f"{prefix}/created", self.created, methods=["POST"]),
                Route(f"{prefix}/status/{{code:int}}", self.status, methods=any_method),
                Route(f"{prefix}/get-only", self.echo, methods=["GET"]),
                Route(f"{prefix}/slow", self.slow, methods=["GET", "POST"]),
                Route(f"{prefix}/upload", self.upload, methods=["POST"]),
                Route(f"{prefix}/closing", self.closing, methods=["GET"]),
                Route(f"{prefix}/early", self.early, methods=["POST"]),
                Route(f"{prefix}/download", self.download, methods=["GET"]),
                Route(f"{prefix}/stream/{{task_id}}", self.events, methods=["GET"]),
                Route(prefix, self.echo, methods=any_method),
                Route(f"{prefix}/{{rest:path}}", self.echo, methods=any_method),
            ]
        )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def serve(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off", keep_alive: int = 5) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=keep_alive,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def gateway_settings(
    fakes: dict[str, FakeService], urls: dict[str, str] | None = None, **overrides: Any
) -> GatewaySettings:
    """Settings of a gateway in front of ``fakes`` (or only ``urls``: service name -> base URL),
    sending :data:`TOKEN`."""
    urls = {name: service.url for name, service in fakes.items()} if urls is None else urls
    values: dict[str, Any] = {f"{name}_url": url for name, url in urls.items()}
    values.update(service_token=TOKEN, log_json=False)
    values.update(overrides)
    return GatewaySettings(**values)
