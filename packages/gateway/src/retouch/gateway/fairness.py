"""Fair shares per client address: concurrent requests, concurrent event streams, and failed
API-key attempts.

A client is its address as the gateway's server sees it (``scope["client"]``). One address that
opens hundreds of slow requests or streams gets 429 past its share instead of filling the
connection pools every other caller needs; one that keeps presenting wrong keys is slowed down
before it can try many. Behind a proxy that hides client addresses, raise or disable the caps
(0 turns each off).
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from retouch.gateway.problems import send_problem

__all__ = ["STREAM_PREFIXES", "ClientFairness", "FailedKeyLimiter", "client_address", "is_stream_route"]

#: Routes that answer an event stream: they hold a connection for as long as the job runs.
STREAM_PREFIXES = ("/api/generate/stream/",)
_PRUNE_AT = 10_000


def client_address(scope: Scope) -> str:
    """The caller's address (``"unknown"`` when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def is_stream_route(path: str) -> bool:
    """Whether ``path`` is answered with an event stream (decided by route, never by ``Accept``)."""
    return path.startswith(STREAM_PREFIXES)


class ClientFairness:
    """ASGI middleware: at most ``max_requests`` requests in progress per client address, of
    which at most ``max_streams`` event streams; past that, 429 with ``Retry-After``."""

    def __init__(self, app: ASGIApp, *, max_requests: int, max_streams: int) -> None:
        self.app = app
        self.max_requests = max_requests
        self.max_streams = max_streams
        self._requests: dict[str, int] = {}
        self._streams: dict[str, int] = {}

    def in_progress(self, client: str) -> tuple[int, int]:
        """``(requests, streams)`` in progress for ``client``."""
        return self._requests.get(client, 0), self._streams.get(client, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the call against its client's caps (429 past them) and pass it on."""
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        stream = is_stream_route(path)
        requests, streams = self.in_progress(client)
        if self.max_requests and requests >= self.max_requests:
            detail = f"too many requests in progress from this client address (at most {self.max_requests})"
            await send_problem(scope, receive, send, 429, detail, {"retry-after": "1"})
            return
        if stream and self.max_streams and streams >= self.max_streams:
            detail = f"too many event streams open from this client address (at most {self.max_streams})"
            await send_problem(scope, receive, send, 429, detail, {"retry-after": "1"})
            return
        self._requests[client] = requests + 1
        if stream:
            self._streams[client] = streams + 1
        try:
            await self.app(scope, receive, send)
        finally:
            _decrement(self._requests, client)
            if stream:
                _decrement(self._streams, client)


def _decrement(counts: dict[str, int], client: str) -> None:
    left = counts.get(client, 1) - 1
    if left > 0:
        counts[client] = left
    else:
        counts.pop(client, None)


class FailedKeyLimiter:
    """Failed API-key attempts per client address: ``burst`` at once, refilled at ``per_minute``.

    An address whose budget is spent is refused (429) before its key is even compared, so a
    guesser learns nothing from its next tries until the budget refills.
    """

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        #: address -> [failures budget left, monotonic time of the last refill]
        self._buckets: dict[str, list[float]] = {}

    @property
    def enabled(self) -> bool:
        """Whether failed attempts are limited at all."""
        return self.rate > 0

    def _tokens(self, client: str, now: float) -> float:
        bucket = self._buckets.get(client)
        if bucket is None:
            return self.burst
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        if tokens >= self.burst:
            # Fully refilled: nothing to remember about this address.
            del self._buckets[client]
        return tokens

    def blocked_for(self, client: str) -> int:
        """Seconds until ``client`` may try a key again; 0 when it may now."""
        if not self.enabled:
            return 0
        tokens = self._tokens(client, time.monotonic())
        if tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def failed(self, client: str) -> None:
        """Count one failed attempt of ``client``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if len(self._buckets) > _PRUNE_AT:
            # Many addresses (a spray): forget those whose budget has refilled.
            for address in list(self._buckets):
                self._tokens(address, now)
        tokens = self._tokens(client, now)
        self._buckets[client] = [max(0.0, tokens - 1.0), now]
