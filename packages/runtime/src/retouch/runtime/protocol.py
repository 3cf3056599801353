"""The HTTP/1.1 server protocol every service runs: uvicorn's h11 one plus a header deadline.

uvicorn arms no timer on a fresh connection: a client that opens a socket and sends its request
head one byte at a time (or nothing at all) holds it for ever. Here the whole head of each request
must arrive within ``header_timeout_s`` seconds of the connection opening (or of the previous
response ending); otherwise the connection is closed. Bytes trickling in do not extend the
deadline, so the head's minimum rate is its size over ``header_timeout_s``.

Optionally (``RETOUCH_MAX_CONNECTIONS_PER_CLIENT``, the gateway's local stack sets it) one client
address may hold at most that many connections at once; further ones are closed as they open, so
one address cannot take every socket the process may have.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from retouch.runtime.settings import Settings

__all__ = [
    "DEFAULT_HEADER_TIMEOUT_S",
    "HEADER_TIMEOUT_VAR",
    "MAX_CONNECTIONS_VAR",
    "GuardedH11Protocol",
    "ServerSettings",
]

#: Seconds a client may take to send a request's head.
DEFAULT_HEADER_TIMEOUT_S = 10.0
HEADER_TIMEOUT_VAR = "RETOUCH_HEADER_TIMEOUT"
MAX_CONNECTIONS_VAR = "RETOUCH_MAX_CONNECTIONS_PER_CLIENT"


class ServerSettings(Settings, kw_only=True):
    """How every service's HTTP server guards its connections, read once before it starts."""

    __env__: ClassVar[dict[str, str]] = {
        "header_timeout_s": HEADER_TIMEOUT_VAR,
        "max_connections_per_client": MAX_CONNECTIONS_VAR,
    }

    #: Seconds the whole head of a request may take to arrive.
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    #: Connections one client address may hold at once (0: no cap).
    max_connections_per_client: int = 0

    def __post_init__(self) -> None:
        self.require(positive=("header_timeout_s",), non_negative=("max_connections_per_client",))


class GuardedH11Protocol(H11Protocol):
    """``H11Protocol`` that closes a connection whose request head is not complete in time."""

    #: Set by :mod:`retouch.runtime.serve` before the server starts.
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    #: Connections one client address may hold at once (0: no cap).
    max_connections_per_client: int = 0
    #: Open connections by client address (one server per process).
    open_by_client: ClassVar[collections.Counter[str]] = collections.Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._counted_as: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection (unless its address holds its share already) and start the
        clock for its first request head."""
        super().connection_made(transport)
        cap = self.max_connections_per_client
        address = self.client[0] if self.client else None
        if cap and address is not None:
            if self.open_by_client[address] >= cap:
                transport.close()
                return
            self.open_by_client[address] += 1
            self._counted_as = address
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline (and the address's count) of a connection that is gone."""
        self._disarm_head_deadline()
        if self._counted_as is not None:
            left = self.open_by_client[self._counted_as] - 1
            if left > 0:
                self.open_by_client[self._counted_as] = left
            else:
                del self.open_by_client[self._counted_as]
            self._counted_as = None
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Parse what arrived; a complete request head (a new cycle) stops the clock."""
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        """A response ended: a kept-alive connection gets a new deadline for its next head."""
        # Armed before the parent parses a pipelined request, which then disarms it at once.
        if not self.transport.is_closing():
            self._arm_head_deadline()
        super().on_response_complete()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.cycle is None or self.cycle.response_complete:
            # No request in progress: nothing to answer, the socket is simply closed.
            self.transport.close()
