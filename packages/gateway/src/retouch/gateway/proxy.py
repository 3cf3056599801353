"""Forwarding one request to the service that owns it.

Pure ASGI on purpose: this is every proxied call's hot path, so it reads headers once and never
decodes a body. The request body is read whole (at a minimum rate) before a connection to the
service is taken, so a slow sender holds only its own share; the answer is relayed as it comes. Status codes, content types and problem bodies of
the service are kept as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator

from starlette.types import Message, Receive, Scope, Send

from retouch.gateway.pool import UpstreamClosed, UpstreamConnectError, UpstreamError, UpstreamResponse, UpstreamTimeout
from retouch.gateway.problems import send_problem
from retouch.gateway.settings import GatewaySettings
from retouch.gateway.upstream import Upstream
from retouch.runtime.concurrency import run_sync
from retouch.runtime.problems import ProblemError
from retouch.runtime.tracing import trace_headers

__all__ = ["OWNER_HEADER", "Proxy"]

log = logging.getLogger("retouch.gateway")

#: Header carrying the caller's owner id to the services (never taken from the client).
OWNER_HEADER = b"x-retouch-owner"

# Request headers a service may need; everything else (cookies, the client's Authorization, any
# X-Service-Token or X-Retouch-Owner it made up) stays at the gateway. Content-Length is handled
# with the body.
_FORWARDED = frozenset({b"content-type", b"accept", b"accept-encoding", b"idempotency-key", b"last-event-id"})
# Hop-by-hop headers and those the gateway's own server or middleware sets.
_NOT_RETURNED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"date",
        b"server",
        b"x-request-id",
    }
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_EVENT_STREAM = b"text/event-stream"


async def _read_body(first: Message, receive: Receive, grace_s: float, min_rate: int) -> bytes | None:
    """The whole request body, read before any service connection is taken (so a slow sender
    holds only its own connection to the gateway); ``None`` if the client went away.

    The body must keep up a minimum rate: ``grace_s`` seconds, plus one second per ``min_rate``
    bytes received, bound the whole read; past that it is a 408."""
    start = time.monotonic()
    parts: list[bytes] = []
    received = 0
    message = first
    while True:
        if message["type"] == "http.disconnect":
            return None
        body: bytes = message.get("body", b"")
        if body:
            parts.append(body)
            received += len(body)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)
        left = start + grace_s + received / min_rate - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                message = await receive()
        except TimeoutError:
            raise ProblemError(
                408,
                f"the request body arrived too slowly ({received} bytes in {time.monotonic() - start:.0f} s; "
                f"at least {min_rate} bytes/s are needed after the first {grace_s:g} s)",
            ) from None


#: Paths whose bodies are pictures of any size (``/api/assets``): read at the same minimum rate but
#: spooled to a temporary file, never held whole in memory, then streamed to the service.
_SPOOLED_PREFIXES = ("/api/assets",)
_SPOOL_IN_MEMORY = 1024 * 1024
_SPOOL_CHUNK = 1024 * 1024


async def _spool_body(
    first: Message, receive: Receive, grace_s: float, min_rate: int
) -> tuple[tempfile.SpooledTemporaryFile[bytes], int] | None:
    """Like :func:`_read_body`, into a temporary file (past 1 MiB on disk): the file and its size."""
    # Closed by _spooled_chunks once sent, or here on any failure.
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    start = time.monotonic()
    received = 0
    message = first
    try:
        while True:
            if message["type"] == "http.disconnect":
                spool.close()
                return None
            body: bytes = message.get("body", b"")
            if body:
                received += len(body)
                await run_sync(spool.write, body)
            if not message.get("more_body", False):
                spool.seek(0)
                return spool, received
            left = start + grace_s + received / min_rate - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    message = await receive()
            except TimeoutError:
                raise ProblemError(
                    408,
                    f"the request body arrived too slowly ({received} bytes in {time.monotonic() - start:.0f} s; "
                    f"at least {min_rate} bytes/s are needed after the first {grace_s:g} s)",
                ) from None
    except BaseException:
        spool.close()
        raise


async def _spooled_chunks(spool: tempfile.SpooledTemporaryFile[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await run_sync(spool.read, _SPOOL_CHUNK):
            yield chunk
    finally:
        spool.close()


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Proxy:
    """Sends a request on to an :class:`Upstream` and relays its answer."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.read_timeout_s = settings.read_timeout_s
        self.body_timeout_s = settings.body_timeout_s
        self.body_min_rate = settings.body_min_rate
        self.stream_idle_timeout_s = settings.stream_idle_timeout_s
        self.retries = settings.upstream_retries
        # Added to every call: the service token and the deployment's own headers (proxy auth).
        self.extra_headers = [
            (name.lower().encode(), value.encode()) for name, value in settings.upstream_headers.items()
        ]
        if settings.service_token:
            self.extra_headers.append((b"x-service-token", settings.service_token.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream, owner: bytes) -> None:
        """Forward the request in ``scope`` to ``upstream`` on behalf of ``owner``."""
        pool = upstream.pool
        if pool is None:
            detail = f"{upstream.name} service is not configured ({upstream.url_var} is unset)"
            await send_problem(scope, receive, send, 503, detail)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers: list[tuple[bytes, bytes]] = []
        content_length: int | None = None
        chunked = False
        replayable = method in _SAFE_METHODS
        for name, value in scope["headers"]:
            if name in _FORWARDED:
                headers.append((name, value))
                if name == b"idempotency-key":
                    replayable = True
            elif name == b"content-length":
                content_length = int(value)  # the runtime's body-limit middleware checked it
            elif name == b"transfer-encoding":
                chunked = True
        headers.append((b"x-request-id", scope["state"]["request_id"].encode()))
        # The gateway's span goes on to the service (nothing while tracing is off).
        headers += [(name.encode(), value.encode()) for name, value in trace_headers().items()]
        headers.append((OWNER_HEADER, owner))
        headers += self.extra_headers

        target: bytes = scope.get("raw_path") or path.encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]

        body: bytes | AsyncIterator[bytes] | None = None
        if (chunked or content_length) and path.startswith(_SPOOLED_PREFIXES):
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    message = await receive()
                spooled = await _spool_body(message, receive, self.body_timeout_s, self.body_min_rate)
            except TimeoutError:
                detail = f"the request body stalled: nothing arrived for {self.body_timeout_s:g} s"
                await send_problem(scope, receive, send, 408, detail)
                return
            except ProblemError as exc:
                await send_problem(scope, receive, send, exc.status, exc.detail, exc.headers)
                return
            if spooled is None:
                return
            body, content_length = _spooled_chunks(spooled[0]), spooled[1]
            replayable = False
        elif chunked or content_length:
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    message = await receive()
                whole = await _read_body(message, receive, self.body_timeout_s, self.body_min_rate)
            except TimeoutError:
                detail = f"the request body stalled: nothing arrived for {self.body_timeout_s:g} s"
                await send_problem(scope, receive, send, 408, detail)
                return
            except ProblemError as exc:
                # The body limit or the minimum rate tripped.
                await send_problem(scope, receive, send, exc.status, exc.detail, exc.headers)
                return
            if whole is None:
                return
            body, content_length = whole, len(whole)

        upstream.touch()
        # The answer's head comes within read_timeout_s on every route; an event stream's events are
        # then bounded by the idle timeout (decided by route and the service's content type, never
        # by what the client's Accept asks for).
        timeout_s = self.read_timeout_s
        try:
            response = await pool.request(
                method.encode(),
                target,
                headers,
                body,
                content_length=content_length,
                timeout_s=timeout_s,
                replayable=replayable,
                retries=self.retries,
            )
        except UpstreamConnectError as exc:
            detail = f"{upstream.name} service is unreachable at {upstream.url}: {exc}"
            await send_problem(scope, receive, send, 503, detail)
            return
        except UpstreamTimeout:
            detail = f"{upstream.name} service did not answer within {self.read_timeout_s:g} s"
            await send_problem(scope, receive, send, 504, detail)
            return
        except UpstreamClosed as exc:
            await send_problem(scope, receive, send, 502, f"{upstream.name} service failed to answer: {exc}")
            return

        try:
            out = [item for item in response.headers if item[0] not in _NOT_RETURNED]
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            event_stream = any(name == b"content-type" and value.startswith(_EVENT_STREAM) for name, value in out)
            if event_stream:
                await self._relay_events(response, receive, send)
                return
            while True:
                data = await response.read(timeout_s)
                last = response.finished
                await send({"type": "http.response.body", "body": data, "more_body": not last})
                if last:
                    break
        except UpstreamError as exc:
            # Too late for a problem document: returning without finishing the response makes the
            # server drop the connection, so the client sees a truncated answer, not a complete one.
            log.warning("%s service failed mid-response for %s: %s", upstream.name, path, exc)
        finally:
            response.close()

    async def _relay_events(self, response: UpstreamResponse, receive: Receive, send: Send) -> None:
        """Relay an event stream as it comes until it ends, the client goes away, or the service
        sends nothing (not even its own heartbeat comments: the jobs service sends them, and the
        gateway adds no second layer) for ``stream_idle_timeout_s``."""
        disconnect = asyncio.ensure_future(_wait_disconnect(receive))
        pending: asyncio.Future[bytes] | None = None
        idle = self.stream_idle_timeout_s

        async def relay(message: Message) -> bool:
            # A client that stops reading would hold the service's stream (and its connection)
            # for ever; it gets ``idle`` seconds to take each piece.
            try:
                async with asyncio.timeout(idle):
                    await send(message)
            except TimeoutError:
                log.info("dropping an event stream whose client took nothing for %g s", idle)
                return False
            return True

        try:
            while not response.finished:
                if pending is None:
                    pending = asyncio.ensure_future(response.read(None))
                done, _ = await asyncio.wait(
                    (pending, disconnect),
                    timeout=idle,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if disconnect in done:
                    return
                if not done:
                    log.info("ending an event stream whose service sent nothing for %g s", idle)
                    break
                finished, pending = pending, None
                chunk = finished.result()
                if chunk and not await relay({"type": "http.response.body", "body": chunk, "more_body": True}):
                    return
            await relay({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            for task in (pending, disconnect):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, UpstreamError):
                        await task
