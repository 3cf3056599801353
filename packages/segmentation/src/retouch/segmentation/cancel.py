"""Cooperative cancellation of smart-mask requests by their ``request_id``, per caller.

A request registers a :class:`CancelToken` under its id while it runs. ``cancel(id)`` flips the
token; the request notices at its next stage boundary (checked in worker threads with
:meth:`CancelToken.check`, and while it waits on shared work with :meth:`CancelToken.race`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from retouch.runtime.assets import current_owner
from retouch.runtime.problems import ProblemError, field_error

__all__ = ["CancelRegistry", "CancelToken", "Cancelled"]

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a request whose token was cancelled."""


class CancelToken:
    """The cancelled flag of one request; :meth:`cancel` is called on the event loop."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._flag = threading.Event()
        self._event = asyncio.Event()

    @property
    def cancelled(self) -> bool:
        """Whether the request was asked to stop."""
        return self._flag.is_set()

    def cancel(self) -> None:
        """Ask the request to stop at its next stage boundary."""
        self._flag.set()
        self._event.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the request was cancelled (safe from any thread)."""
        if self._flag.is_set():
            raise Cancelled(self.request_id)

    async def race(self, work: Awaitable[T]) -> T:
        """Await ``work`` unless the request is cancelled first (``work`` itself keeps running)."""
        self.check()
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done():
            return task.result()
        # The work is shared with other requests (or fills the cache); leave it running.
        task.add_done_callback(_consume)
        raise Cancelled(self.request_id)


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # mark a failure as retrieved: whoever else awaits it reports it


class CancelRegistry:
    """The requests now running, by caller and ``request_id``.

    A request id is the caller's own (it may choose it): another caller can neither cancel it
    nor collide with it, and learns nothing about it (its cancel is a 404 like an unknown id).
    The caller is the request's owner (``X-Retouch-Owner``, set by the gateway)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], CancelToken] = {}

    @contextmanager
    def register(self, request_id: str) -> Iterator[CancelToken]:
        """Track ``request_id`` while the ``with`` block runs; an id the same caller already runs
        is a 409."""
        key = (current_owner(), request_id)
        if key in self._tokens:
            raise field_error("request_id", f"a request with id {request_id!r} is already running", 409)
        token = CancelToken(request_id)
        self._tokens[key] = token
        try:
            yield token
        finally:
            self._tokens.pop(key, None)

    def cancel(self, request_id: str) -> CancelToken:
        """Cancel the caller's running request ``request_id``; an unknown or finished id (or one
        of another caller) is a 404."""
        token = self._tokens.get((current_owner(), request_id))
        if token is None:
            raise ProblemError(404, f"request_id: no running smart-mask request with id {request_id!r}")
        token.cancel()
        return token

    def __len__(self) -> int:
        return len(self._tokens)
