"""HTTP/1.1 conformance of the gateway's upstream pool (``pool.py``), against scripted servers that
answer byte for byte: chunked bodies, close-delimited bodies, 1xx interim answers, HEAD, keep-alive
reuse when the service drops a pooled connection, an answer cut short, and TLS.

The gateway keeps its own pool because it is faster than aiohttp's client on the 4 MB path (see
``tests/bench/gateway_transport.py``); these tests are what it owes in exchange.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from retouch.gateway.pool import ConnectionPool, UpstreamClosed, UpstreamError

#: What a scripted server answers the n-th request on a connection with: the bytes to send, and
#: whether to close the connection afterwards (``None`` bytes: close without answering).
Script = Callable[[int, bytes], tuple[bytes | None, bool]]


class ScriptedServer:
    """A loopback server that reads each request (head and ``Content-Length`` body) and answers
    what its script says; counts connections and requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        index = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                self.requests.append(head.split(b"\r\n", 1)[0])
                answer, close = self.script(index, head)
                index += 1
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
                if close or answer is None:
                    return
        finally:
            writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    servers: list[ScriptedServer] = []

    async def start(script: Script, tls: ssl.SSLContext | None = None) -> tuple[ScriptedServer, str]:
        server = ScriptedServer(script)
        servers.append(server)
        return server, await server.start(tls)

    yield start
    for server in servers:
        await server.stop()


def _pool(url: str, **kwargs: object) -> ConnectionPool:
    return ConnectionPool(url, max_connections=4, connect_timeout_s=5.0, keepalive_expiry_s=30.0, **kwargs)  # type: ignore[arg-type]


async def _call(pool: ConnectionPool, method: bytes = b"GET", *, replayable: bool = True) -> tuple[int, bytes]:
    response = await pool.request(method, b"/x", [], None, timeout_s=5.0, replayable=replayable)
    body = b""
    try:
        while not response.finished:
            body += await response.read(5.0)
    finally:
        response.close()
    return response.status, body


def _always(answer: bytes, close: bool = False) -> Script:
    return lambda _index, _head: (answer, close)


async def test_a_chunked_body_is_joined_and_the_connection_reused(serve) -> None:  # type: ignore[no-untyped-def]
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    server, url = await serve(_always(answer))
    pool = _pool(url)
    assert await _call(pool) == (200, b"hello world")
    assert await _call(pool) == (200, b"hello world")
    assert server.connections == 1
    pool.close()


async def test_a_close_delimited_body_ends_at_eof_and_the_connection_is_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(_always(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe whole body", close=True))
    pool = _pool(url)
    assert await _call(pool) == (200, b"the whole body")
    assert await _call(pool) == (200, b"the whole body")
    assert server.connections == 2
    pool.close()


@pytest.mark.parametrize(
    "interim",
    [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"],
    ids=["100", "103"],
)
async def test_interim_1xx_answers_are_skipped(serve, interim: bytes) -> None:  # type: ignore[no-untyped-def]
    _, url = await serve(_always(interim + b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"))
    pool = _pool(url)
    assert await _call(pool) == (201, b"ok")
    assert await _call(pool) == (201, b"ok")
    pool.close()


async def test_head_has_no_body_whatever_its_content_length_says(serve) -> None:  # type: ignore[no-untyped-def]
    def script(_index: int, head: bytes) -> tuple[bytes, bool]:
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", False
        return b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget", False

    _, url = await serve(script)
    pool = _pool(url)
    assert await asyncio.wait_for(_call(pool, b"HEAD"), 5) == (200, b"")
    assert await _call(pool) == (200, b"get")  # the next call is not confused by the HEAD
    pool.close()


async def test_a_pooled_connection_dropped_by_the_service_is_retried_on_a_fresh_one(serve) -> None:  # type: ignore[no-untyped-def]
    # The service answers once per connection, then closes when the next request arrives: the
    # race of a keep-alive connection timing out at the service just as it is reused.
    def script(index: int, _head: bytes) -> tuple[bytes | None, bool]:
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False) if index == 0 else (None, True)

    server, url = await serve(script)
    pool = _pool(url)
    for _ in range(3):
        assert await _call(pool) == (200, b"ok")
    assert server.connections >= 3
    pool.close()


async def test_a_request_that_is_not_safe_to_resend_is_not_resent(serve) -> None:  # type: ignore[no-untyped-def]
    def script(index: int, _head: bytes) -> tuple[bytes | None, bool]:
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False) if index == 0 else (None, True)

    server, url = await serve(script)
    pool = _pool(url)
    assert await _call(pool, b"POST", replayable=False) == (200, b"ok")
    with pytest.raises(UpstreamError):
        await _call(pool, b"POST", replayable=False)
    assert len(server.requests) == 2  # sent once, never twice
    pool.close()


async def test_an_answer_cut_short_is_an_error_not_a_short_body(serve) -> None:  # type: ignore[no-untyped-def]
    _, url = await serve(_always(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", close=True))
    pool = _pool(url)
    with pytest.raises(UpstreamClosed):
        await _call(pool)
    pool.close()


async def test_a_chunked_answer_cut_short_is_an_error(serve) -> None:  # type: ignore[no-untyped-def]
    _, url = await serve(_always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", close=True))
    pool = _pool(url)
    with pytest.raises(UpstreamClosed):
        await _call(pool)
    pool.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls(serve, certificate: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    server, url = await serve(_always(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"), tls=server_side)
    pool = _pool(url, tls=ssl.create_default_context(cafile=str(cert)))
    assert await _call(pool) == (200, b"secret")
    assert await _call(pool) == (200, b"secret")
    assert server.connections == 1
    pool.close()
    untrusting = _pool(url)  # the system's CAs do not know this certificate
    with pytest.raises(UpstreamError):
        await _call(untrusting)
    untrusting.close()
