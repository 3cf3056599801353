"""Cooperative cancellation by id: the one registry of running work every service uses.

Work registers a :class:`CancelToken` under its id while it runs (smart-mask requests by their
``request_id``, per caller; generation runs by their ``run_id``). ``cancel(id)`` flips the token;
the work notices at its next stage boundary (checked in worker threads with
:meth:`CancelToken.check` or :meth:`CancelToken.is_set`, and while it waits on shared work with
:meth:`CancelToken.race`).
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

    def is_set(self) -> bool:
        """Whether the work was asked to stop (safe from any thread; a ``() -> bool`` check)."""
        return self._flag.is_set()

    def cancel(self) -> None:
        """Ask the request to stop at its next stage boundary (called on the event loop)."""
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
    """The work now running, by id (and, with ``per_owner``, by caller).

    With ``per_owner`` an id is the caller's own (it may choose it): another caller can neither
    cancel it nor collide with it, and learns nothing about it (its cancel is a 404 like an unknown
    id). The caller is the request's owner (``X-Retouch-Owner``, set by the gateway). ``busy`` and
    ``unknown`` are the 409 / 404 details (``{id!r}`` is the id); ``field``, when given, is the
    request field the 409 names. Touched only on the event loop's thread.
    """

    def __init__(
        self,
        *,
        busy: str = "{id!r} is already running",
        unknown: str = "nothing with id {id!r} is running",
        field: str | None = None,
        per_owner: bool = True,
    ) -> None:
        self._tokens: dict[tuple[str, str], CancelToken] = {}
        self._busy, self._unknown, self._field, self._per_owner = busy, unknown, field, per_owner

    def _key(self, work_id: str) -> tuple[str, str]:
        return (current_owner() if self._per_owner else "", work_id)

    def reserve(self, work_id: str) -> CancelToken:
        """Register ``work_id`` until :meth:`release`; an id already running is a 409."""
        key = self._key(work_id)
        if key in self._tokens:
            detail = self._busy.format(id=work_id)
            raise field_error(self._field, detail, 409) if self._field else ProblemError(409, detail)
        token = self._tokens[key] = CancelToken(work_id)
        return token

    def release(self, work_id: str, token: CancelToken) -> None:
        """Forget ``work_id`` if ``token`` is still the one registered under it."""
        key = self._key(work_id)
        if self._tokens.get(key) is token:
            del self._tokens[key]

    @contextmanager
    def register(self, work_id: str) -> Iterator[CancelToken]:
        """Track ``work_id`` while the ``with`` block runs (see :meth:`reserve`)."""
        token = self.reserve(work_id)
        try:
            yield token
        finally:
            self.release(work_id, token)

    def cancel(self, work_id: str) -> CancelToken:
        """Cancel the running ``work_id``; an unknown or finished id (or one of another caller) is
        a 404."""
        token = self._tokens.get(self._key(work_id))
        if token is None:
            raise ProblemError(404, self._unknown.format(id=work_id))
        token.cancel()
        return token

    def cancel_all(self) -> None:
        """Cancel everything running (shutdown: let worker threads stop at their next step)."""
        for token in list(self._tokens.values()):
            token.cancel()

    def __len__(self) -> int:
        return len(self._tokens)
