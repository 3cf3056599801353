"""A lean HTTP/1.1 client for the proxy's hot path: pooled keep-alive connections, httptools.

Why not httpx here: on a small call httpx's client layer alone costs ~0.3 ms of CPU and httpcore,
h11 and anyio as much again, which is more than the gateway's whole budget (it may add ~1 ms to a
call). This client does only what a reverse proxy needs (write a request head and body, parse the
answer with httptools' C parser, hand back body chunks as they arrive, keep the connection) on
asyncio protocols, without per-request URL parsing or header objects. The gateway's other calls
(health probes) go through the SDK client.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "ConnectionPool",
    "UpstreamClosed",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamResponse",
    "UpstreamTimeout",
]

# Stop reading from the socket while this much body waits for a slow client; resume below _LOW.
_HIGH = 512 * 1024
_LOW = 128 * 1024
_WRITE_HIGH = 1024 * 1024


class UpstreamError(Exception):
    """The service could not be reached or did not answer properly."""


class UpstreamConnectError(UpstreamError):
    """No connection could be opened (refused, unresolvable, or not within the connect timeout)."""


class UpstreamTimeout(UpstreamError):
    """The service did not answer (or send more of its answer) within the read timeout."""


class UpstreamClosed(UpstreamError):
    """The service closed the connection or sent something that is not HTTP."""


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


async def _wait(future: asyncio.Future[None], timeout_s: float | None) -> None:
    if timeout_s is None:
        await future
        return
    handle = asyncio.get_running_loop().call_later(timeout_s, _expire, future)
    try:
        await future
    finally:
        handle.cancel()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request/response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        #: False once the connection is out of step (a request body not sent in full).
        self.reusable = True
        #: Whether a request is under way (data from the service at any other time is an error).
        self.active = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._reset()
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.got_bytes = False
        self.head_done = False
        self._keep_alive = False
        self.complete = False
        self.error: BaseException | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        # Let a multi-megabyte image body flow without a pause every 64 KiB.
        self.transport.set_write_buffer_limits(high=_WRITE_HIGH)

    def data_received(self, data: bytes) -> None:
        if not self.active:
            self.close()
            return
        self.got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"invalid HTTP from the service: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and exc is None and self.head_done and self._delimited_by_close():
            # RFC 9112 6.3: without Content-Length or chunked coding the body ends when the
            # connection does; the parser cannot know, the closed connection tells.
            self.complete = True
            self._wake()
        if not self.complete:
            self._fail(UpstreamClosed(f"the service closed the connection{f': {exc}' if exc else ''}"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(UpstreamClosed("the service closed the connection"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def _delimited_by_close(self) -> bool:
        if self.status < 200 or self.status in (204, 304):
            return False
        for name, value in self.headers:
            if name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
                return False
        return True

    # -- httptools callbacks -------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        # Asked here: once the message is complete the parser has forgotten its flags.
        self._keep_alive = self._parser.should_keep_alive()
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # -- used by the pool ----------------------------------------------------------------------
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def keep_alive(self) -> bool:
        return self.reusable and self._keep_alive and self.complete and not self.closed

    def drained(self) -> bool:
        return self.complete and not self._chunks

    async def write(self, data: bytes, timeout_s: float | None) -> None:
        if self.closed or self.transport is None:
            raise UpstreamClosed("the service closed the connection")
        self.transport.write(data)
        if self._write_paused:
            self._drain = self._loop.create_future()
            try:
                await _wait(self._drain, timeout_s)
            except TimeoutError:
                raise UpstreamTimeout("the service did not take the request body in time") from None

    async def wait_head(self, timeout_s: float | None) -> None:
        while not self.head_done:
            if self.error is not None:
                raise self.error
            self._waiter = self._loop.create_future()
            try:
                await _wait(self._waiter, timeout_s)
            except TimeoutError:
                raise UpstreamTimeout("no answer within the timeout") from None

    async def read(self, timeout_s: float | None) -> bytes:
        """The body that has arrived (waiting for some if none has); ``b""`` at the end."""
        while not self._chunks:
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            self._waiter = self._loop.create_future()
            try:
                await _wait(self._waiter, timeout_s)
            except TimeoutError:
                raise UpstreamTimeout("the answer stalled") from None
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join([chunks.popleft() for _ in range(len(chunks))])
        self._buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    def start_request(self) -> None:
        self._reset()
        self.active = True
        if self.transport is not None:
            self.transport.resume_reading()


class UpstreamResponse:
    """An answer being received: status and headers now, the body through :meth:`read`.

    Always :meth:`close` it: the connection goes back to the pool when the body was read to the
    end, and is dropped otherwise.
    """

    def __init__(self, pool: ConnectionPool, connection: _Connection, head_only: bool) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status = connection.status
        self.headers = connection.headers
        self._head_only = head_only

    @property
    def finished(self) -> bool:
        """Whether the whole body has been read."""
        connection = self._connection
        return connection is None or self._head_only or connection.drained()

    async def read(self, timeout_s: float | None) -> bytes:
        """The next part of the body as it arrives (``b""``: the end); ``timeout_s`` bounds the wait."""
        if self.finished:
            return b""
        assert self._connection is not None
        return await self._connection.read(timeout_s)

    def close(self) -> None:
        """Give the connection back (body complete, keep-alive) or drop it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection, reuse=not self._head_only and connection.keep_alive())


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to one service base URL."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        connect_timeout_s: float,
        keepalive_expiry_s: float,
        tls: ssl.SSLContext | None = None,
        pool_timeout_s: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.secure else 80)
        default_port = parts.port is None or parts.port == (443 if self.secure else 80)
        self._host_header = (parts.netloc.rpartition("@")[2] if not default_port else self.host).encode("idna")
        self._prefix = parts.path.rstrip("/").encode()
        self._tls = tls if tls is not None else (ssl.create_default_context() if self.secure else None)
        self.connect_timeout_s = connect_timeout_s
        #: Seconds a call waits for a free connection when all ``max_connections`` are in use.
        self.pool_timeout_s = pool_timeout_s
        self.keepalive_expiry_s = keepalive_expiry_s
        # Oldest first: connections are appended as they go idle and reused from the right end.
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots: asyncio.Semaphore | None = None
        self._max = max_connections

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, connection = await loop.create_connection(
                    _Connection, self.host, self.port, ssl=self._tls, server_hostname=self.host if self._tls else None
                )
        except TimeoutError:
            raise UpstreamConnectError(f"no connection within {self.connect_timeout_s:g} s") from None
        except OSError as exc:
            raise UpstreamConnectError(exc.strerror or str(exc)) from None
        return connection

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_expiry_s:
                return connection
            connection.close()
        return None

    def release(self, connection: _Connection, *, reuse: bool) -> None:
        """Return ``connection`` to the pool (``reuse``) or close it; frees its slot."""
        connection.active = False
        now = time.monotonic()
        if reuse:
            connection.idle_since = now
            self._idle.append(connection)
        else:
            connection.close()
        # Drop connections that idled too long at the old end (after a burst, most are never reused).
        idle = self._idle
        while idle and (idle[0].closed or now - idle[0].idle_since >= self.keepalive_expiry_s):
            idle.popleft().close()
        if self._slots is not None:
            self._slots.release()

    async def request(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
        *,
        content_length: int | None = None,
        timeout_s: float | None,
        replayable: bool,
        retries: int = 0,
    ) -> UpstreamResponse:
        """Send one request and wait for the head of the answer.

        ``body`` is bytes (sent with its length), an async iterator (sent with ``content_length``
        when given, else chunked) or ``None``. A request is resent on a fresh connection when a
        pooled connection turns out dead before any answer arrived and ``replayable`` says that is
        safe, and up to ``retries`` times when no connection could be opened. Waiting longer than
        ``pool_timeout_s`` for a free connection is an :class:`UpstreamConnectError`.
        """
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        try:
            # Long-lived calls (event streams) can hold every connection; a call must not queue for ever.
            async with asyncio.timeout(self.pool_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise UpstreamConnectError(
                f"all {self._max} connections are in use (waited {self.pool_timeout_s:g} s for one)"
            ) from None
        attempt = 0
        while True:
            connection = self._take_idle()
            reused = connection is not None
            try:
                if connection is None:
                    connection = await self._open()
                return await self._exchange(connection, method, target, headers, body, content_length, timeout_s)
            except UpstreamConnectError:
                if attempt >= retries:
                    self._slots.release()
                    raise
                attempt += 1
                await asyncio.sleep(0.1 * attempt)
            except UpstreamClosed:
                assert connection is not None
                connection.close()
                if not (reused and replayable and not connection.got_bytes):
                    self._slots.release()
                    raise
            except BaseException:
                if connection is not None:
                    connection.close()
                self._slots.release()
                raise

    async def _exchange(
        self,
        connection: _Connection,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
        content_length: int | None,
        timeout_s: float | None,
    ) -> UpstreamResponse:
        connection.start_request()
        lines = [method, b" ", self._prefix, target, b" HTTP/1.1\r\nhost: ", self._host_header, b"\r\n"]
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        chunked = False
        if isinstance(body, bytes):
            lines += (b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body)
        elif body is None:
            lines.append(b"\r\n")
        elif content_length is not None:
            lines += (b"content-length: ", str(content_length).encode(), b"\r\n\r\n")
        else:
            chunked = True
            lines.append(b"transfer-encoding: chunked\r\n\r\n")
        await connection.write(b"".join(lines), timeout_s)
        if body is not None and not isinstance(body, bytes):
            try:
                async for chunk in body:
                    if connection.head_done:
                        # The service answered early (e.g. 413): stop sending and relay its answer;
                        # the connection is out of step now and must not be reused.
                        connection.reusable = False
                        break
                    if chunk:
                        await connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk, timeout_s)
                else:
                    if chunked:
                        await connection.write(b"0\r\n\r\n", timeout_s)
            except UpstreamClosed:
                if not connection.head_done:
                    raise
                connection.reusable = False
        await connection.wait_head(timeout_s)
        return UpstreamResponse(self, connection, head_only=method == b"HEAD")

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()
