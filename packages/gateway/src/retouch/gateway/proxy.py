"""Forwarding one request to the service that owns it, streaming both bodies through.

Pure ASGI on purpose: this is every proxied call's hot path, so it reads headers once, never
decodes a body, and relays chunks as they come. Status codes, content types and problem bodies of
the service are kept as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.types import Message, Receive, Scope, Send

from retouch.gateway.problems import send_problem
from retouch.gateway.settings import GatewaySettings
from retouch.gateway.upstream import Upstream
from retouch.runtime.problems import ProblemError
from retouch.sdk import NOT_GIVEN
from retouch.sdk.errors import APIConnectionError, APITimeoutError

__all__ = ["OWNER_HEADER", "Proxy"]

log = logging.getLogger("retouch.gateway")

#: Header carrying the caller's owner id to the services (never taken from the client).
OWNER_HEADER = b"x-retouch-owner"

# Request headers a service may need; everything else (cookies, the client's Authorization, any
# X-Service-Token or X-Retouch-Owner it made up) stays at the gateway.
_FORWARDED = frozenset(
    {b"content-type", b"content-length", b"accept", b"accept-encoding", b"idempotency-key", b"last-event-id"}
)
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
_EVENT_STREAM = b"text/event-stream"
#: Paths answered with an event stream even when the client does not say ``Accept: text/event-stream``.
_STREAM_PREFIXES = ("/api/generate/stream/",)
_HEARTBEAT: Message = {"type": "http.response.body", "body": b": heartbeat\n\n", "more_body": True}
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


class _ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


async def _body_chunks(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Proxy:
    """Sends a request on to an :class:`Upstream` and relays its answer."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.heartbeat_s = settings.sse_heartbeat_s
        self.read_timeout = settings.read_timeout
        self.stream_timeout = httpx.Timeout(
            connect=settings.connect_timeout, read=None, write=settings.read_timeout, pool=settings.connect_timeout
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream, owner: bytes) -> None:
        """Forward the request in ``scope`` to ``upstream`` on behalf of ``owner``."""
        client = upstream.client
        if client is None:
            detail = f"{upstream.name} service is not configured ({upstream.url_var} is unset)"
            await send_problem(scope, receive, send, 503, detail)
            return
        path: str = scope["path"]
        headers: list[tuple[bytes, bytes]] = []
        has_body = False
        streaming = path.startswith(_STREAM_PREFIXES)
        for name, value in scope["headers"]:
            if name in _FORWARDED:
                headers.append((name, value))
                if name == b"content-length":
                    has_body = value != b"0"
                elif name == b"accept" and _EVENT_STREAM in value:
                    streaming = True
            elif name == b"transfer-encoding":
                has_body = True
        headers.append((b"x-request-id", scope["state"]["request_id"].encode()))
        headers.append((OWNER_HEADER, owner))

        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope["query_string"]
        target = (raw_path + b"?" + query if query else raw_path).decode("latin-1")

        content: bytes | AsyncIterator[bytes] | None = None
        if has_body:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            first: bytes = message.get("body", b"")
            if message.get("more_body", False):
                content = _body_chunks(first, receive)
            else:
                # The whole body came in one piece: send it as bytes (httpx sets Content-Length, and
                # an idempotent request stays retryable).
                content = first
                headers = [item for item in headers if item[0] != b"content-length"]

        upstream.touch()
        try:
            response = await client.request_raw(
                scope["method"],
                target,
                content=content,
                headers=headers,
                timeout=self.stream_timeout if streaming else NOT_GIVEN,
            )
        except APITimeoutError as exc:
            if isinstance(exc.__cause__, httpx.ConnectTimeout):
                detail = f"{upstream.name} service is unreachable at {upstream.url}: no connection within the timeout"
                await send_problem(scope, receive, send, 503, detail)
            else:
                detail = f"{upstream.name} service did not answer within {self.read_timeout:g} s"
                await send_problem(scope, receive, send, 504, detail)
            return
        except APIConnectionError as exc:
            reason = str(exc.__cause__ or exc) or type(exc.__cause__).__name__
            await send_problem(
                scope, receive, send, 503, f"{upstream.name} service is unreachable at {upstream.url}: {reason}"
            )
            return
        except httpx.StreamError:
            # A retry could not resend a body that was already streamed once.
            detail = f"{upstream.name} service is unavailable (it refused the request; try again)"
            await send_problem(scope, receive, send, 503, detail)
            return
        except ProblemError as exc:
            # The body limit tripped while the body was being forwarded.
            await send_problem(scope, receive, send, exc.status, exc.detail, exc.headers)
            return
        except _ClientGone:
            return

        try:
            out = [(key.lower(), value) for key, value in response.headers.raw if key.lower() not in _NOT_RETURNED]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                await self._relay_events(response, receive, send)
                return
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send(_END)
        except httpx.HTTPError as exc:
            # Too late for a problem document: returning without finishing the response makes the
            # server drop the connection, so the client sees a truncated answer, not a complete one.
            log.warning("%s service failed mid-response for %s: %r", upstream.name, path, exc)
        finally:
            await response.aclose()

    async def _relay_events(self, response: httpx.Response, receive: Receive, send: Send) -> None:
        """Relay an event stream chunk by chunk, with heartbeats while the service is silent, until
        it ends or the client goes away."""
        chunks = response.aiter_raw().__aiter__()
        disconnect = asyncio.ensure_future(_wait_disconnect(receive))
        pending: asyncio.Future[bytes] | None = None
        at_boundary = True
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(chunks.__anext__())
                done, _ = await asyncio.wait(
                    (pending, disconnect), timeout=self.heartbeat_s, return_when=asyncio.FIRST_COMPLETED
                )
                if disconnect in done:
                    return
                if not done:
                    # Only between events: a comment inside a half-sent event would corrupt it.
                    if at_boundary:
                        await send(_HEARTBEAT)
                    continue
                finished, pending = pending, None
                try:
                    chunk = finished.result()
                except StopAsyncIteration:
                    break
                if chunk:
                    at_boundary = chunk.endswith((b"\n\n", b"\r\n\r\n", b"\r\r"))
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send(_END)
        finally:
            for task in (pending, disconnect):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, httpx.HTTPError):
                        await task
