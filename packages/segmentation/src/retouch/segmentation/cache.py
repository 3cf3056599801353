"""The per-image cache: what an engine prepared for a picture, by ``image_id``, bounded by bytes.

Least recently used entries go first once the total passes the budget. Concurrent requests for a
picture that is still being prepared share that one preparation ("single flight"), so two quick
clicks on a new picture run the network once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from retouch.sdk.codec import asset_id_of

__all__ = ["ImageCache", "Sized", "image_id_for"]


class Sized(Protocol):
    """A cache entry that knows how much memory it holds."""

    @property
    def nbytes(self) -> int:
        """Bytes of memory the entry holds."""
        ...


V = TypeVar("V", bound=Sized)


def image_id_for(data: bytes) -> str:
    """The ``image_id`` of encoded picture bytes: a hash of their content (for an ``asset:<id>``
    reference, that id: the same hash of the same bytes)."""
    return asset_id_of(data) or hashlib.sha256(data).hexdigest()[:32]


def _retrieve(future: asyncio.Future[V]) -> None:
    # Every waiter may have given up; mark a failure as seen so asyncio does not log it as lost.
    if not future.cancelled():
        future.exception()


class ImageCache(Generic[V]):
    """An LRU map ``image_id -> prepared entry`` holding at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._bytes = 0
        self._pending: dict[str, asyncio.Future[V]] = {}

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> V | None:
        """The entry for ``key`` (now the most recently used), or ``None``."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: V) -> None:
        """Store ``entry``, evicting the least recently used ones past the budget.

        An entry larger than the whole budget is not kept.
        """
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        if entry.nbytes > self.max_bytes:
            return
        self._entries[key] = entry
        self._bytes += entry.nbytes
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.nbytes

    def pending(self, key: str) -> asyncio.Future[V] | None:
        """The preparation of ``key`` still running, if any."""
        return self._pending.get(key)

    def get_or_create(self, key: str, create: Callable[[], Awaitable[V]]) -> Awaitable[V]:
        """The entry for ``key``: cached, being prepared by another request, or prepared now by ``create``.

        The preparation runs as its own task, so one caller giving up (a cancelled request) does
        not stop it for the others, and its result is cached when it succeeds.
        """
        loop = asyncio.get_running_loop()
        entry = self.get(key)
        if entry is not None:
            done: asyncio.Future[V] = loop.create_future()
            done.set_result(entry)
            return done
        future = self._pending.get(key)
        if future is None:
            future = loop.create_task(self._create(key, create))
            future.add_done_callback(_retrieve)
            self._pending[key] = future
        return asyncio.shield(future)

    async def _create(self, key: str, create: Callable[[], Awaitable[V]]) -> V:
        try:
            entry = await create()
            self.put(key, entry)
            return entry
        finally:
            self._pending.pop(key, None)
