"""Slow clients on real sockets: one address sending bodies (or request heads) at a trickle must not
delay another address's call, and must not hold connections to the services.

The gateway runs under the services' own server protocol
(:class:`retouch.runtime.protocol.GuardedH11Protocol`) with a deliberately small service pool, so
a gateway that let slow senders hold service connections would make the other caller wait. The
bound (one second more than an unloaded call) is the one the issue asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from gateway_fakes import FakeService, gateway_settings

from retouch.gateway.app import create_app
from retouch.runtime.protocol import GuardedH11Protocol

SLOW_CLIENTS = 300
OTHER_ADDRESS = "127.0.0.2"
HEADER_TIMEOUT = 1.5


@pytest.fixture(autouse=True)
def _enough_file_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * SLOW_CLIENTS + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextlib.contextmanager
def _serve_guarded(app: object) -> Iterator[tuple[str, int]]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    previous = GuardedH11Protocol.header_timeout_s
    GuardedH11Protocol.header_timeout_s = HEADER_TIMEOUT
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        http=GuardedH11Protocol,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        GuardedH11Protocol.header_timeout_s = previous


@pytest.fixture
def gateway_address(fakes: dict[str, FakeService]) -> Iterator[tuple[str, int]]:
    settings = gateway_settings(fakes, upstream_max_connections=4, read_timeout_s=5.0, body_timeout_s=20.0)
    with _serve_guarded(create_app(settings)) as address:
        yield address


async def _other_address_call(host: str, port: int) -> float:
    """Seconds one call from :data:`OTHER_ADDRESS` takes (it must succeed)."""
    transport = httpx.AsyncHTTPTransport(local_address=OTHER_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}:{port}", timeout=30) as client:
        started = time.perf_counter()
        response = await client.post("/api/image-utils/extract-object", json={"x": 1})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


async def _baseline(host: str, port: int) -> float:
    return min([await _other_address_call(host, port) for _ in range(3)])


async def _open(host: str, port: int, first: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.1", 0))
    writer.write(first)
    await writer.drain()
    return reader, writer


async def _close_all(conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    for _, writer in conns:
        writer.close()
    for _, writer in conns:
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()


async def test_slow_bodies_from_one_address_do_not_delay_another(gateway_address: tuple[str, int]) -> None:
    host, port = gateway_address
    baseline = await _baseline(host, port)
    head = (
        b"POST /api/image-utils/upload HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nx"
    )
    conns = await asyncio.gather(*(_open(host, port, head) for _ in range(SLOW_CLIENTS)))
    try:
        await asyncio.sleep(0.5)
        # One more byte each, as a trickling sender does; then another address calls.
        for _, writer in conns:
            writer.write(b"y")
        loaded = [await _other_address_call(host, port) for _ in range(3)]
        assert max(loaded) < baseline + 1.0, (baseline, loaded)
        # Past its share, the slow address was told so at once.
        answers = await asyncio.gather(*(_first_line(reader, 2.0) for reader, _ in conns))
        assert sum(1 for line in answers if line.startswith(b"HTTP/1.1 429")) >= SLOW_CLIENTS - 64
    finally:
        await _close_all(conns)


async def _first_line(reader: asyncio.StreamReader, timeout: float) -> bytes:
    with contextlib.suppress(TimeoutError, ConnectionError):
        return await asyncio.wait_for(reader.readline(), timeout)
    return b""


async def test_idle_header_senders_do_not_delay_another_address_and_are_dropped(
    gateway_address: tuple[str, int],
) -> None:
    host, port = gateway_address
    baseline = await _baseline(host, port)
    started = time.monotonic()
    # Request heads that never end: a byte now and then, never the blank line.
    conns = await asyncio.gather(
        *(_open(host, port, b"GET /api/health HTTP/1.1\r\nHost: g") for _ in range(SLOW_CLIENTS))
    )
    try:
        loaded = [await _other_address_call(host, port) for _ in range(3)]
        assert max(loaded) < baseline + 1.0, (baseline, loaded)
        for _, writer in conns:
            with contextlib.suppress(ConnectionError):
                writer.write(b"x")
        # Trickling bytes do not extend the deadline: every connection is closed by the server
        # (EOF, no answer) soon after the header timeout.
        ends = await asyncio.gather(*(_first_line(reader, HEADER_TIMEOUT + 10) for reader, _ in conns))
        assert ends == [b""] * SLOW_CLIENTS
        assert all(reader.at_eof() for reader, _ in conns)
        assert time.monotonic() - started >= HEADER_TIMEOUT
    finally:
        await _close_all(conns)


async def test_a_complete_head_is_answered_and_keep_alive_gets_a_new_deadline(
    gateway_address: tuple[str, int],
) -> None:
    host, port = gateway_address
    reader, writer = await _open(host, port, b"GET /api/health HTTP/1.1\r\nHost: g\r\n\r\n")
    try:
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        # The answer's head and body; then the kept-alive connection waits for a next head that
        # never comes, and is closed.
        await asyncio.wait_for(reader.readuntil(b"}"), 5)
        assert await asyncio.wait_for(reader.read(), HEADER_TIMEOUT + 10) == b""
    finally:
        await _close_all([(reader, writer)])


async def test_one_address_holds_at_most_its_connections(gateway_address: tuple[str, int]) -> None:
    host, port = gateway_address
    previous = GuardedH11Protocol.max_connections_per_client
    previous_timeout = GuardedH11Protocol.header_timeout_s
    GuardedH11Protocol.max_connections_per_client = 50
    # Long enough that none of the first 50 is dropped for a slow head on a loaded machine.
    GuardedH11Protocol.header_timeout_s = 60.0
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        conns = await asyncio.gather(*(_open(host, port, b"GET /api/health HTTP/1.1\r\nHost: g") for _ in range(120)))
        # Past its 50, the address's connections are closed as the server accepts them (EOF,
        # nothing answered). A loaded server accepts late, so no head is completed (which would
        # free a slot) before those 70 have been closed, or 30 s have passed.
        lines = [asyncio.ensure_future(_first_line(reader, 60.0)) for reader, _ in conns]
        deadline = time.monotonic() + 30.0
        while sum(line.done() for line in lines) < 70 and time.monotonic() < deadline:
            await asyncio.wait([line for line in lines if not line.done()], timeout=0.5)
        # The first 50 are served once their heads are complete.
        for (_, writer), line in zip(conns, lines, strict=True):
            if not line.done():
                with contextlib.suppress(ConnectionError):
                    writer.write(b"\r\nConnection: close\r\n\r\n")
        ends = await asyncio.gather(*lines)
        answered = sum(1 for line in ends if line.startswith(b"HTTP/1.1 200"))
        closed = sum(1 for line in ends if line == b"")
        assert (answered, closed) == (50, 70), ends
        # Another address has its own share.
        await _other_address_call(host, port)
    finally:
        await _close_all(conns)
        GuardedH11Protocol.header_timeout_s = previous_timeout
        GuardedH11Protocol.max_connections_per_client = previous
