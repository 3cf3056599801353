"""Blocking work never runs on the event loop. There are three ways off it, one for each shape of work:

- :func:`run_sync`: a short call awaited by a request (decode, an image op, a mask), in the shared,
  bounded pool of worker threads;
- :class:`SerialWorker`: calls that must stay on one thread of their own, in order (a SQLite
  connection);
- :func:`start_thread`: long work that outlives the call that starts it (a model load, a generation
  run streaming its events), in a daemon thread of its own, so minutes of work never hold one of
  the pool's workers and starve the short calls. The caller bounds how many it starts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

__all__ = ["SerialWorker", "configure_workers", "run_sync", "start_thread"]

P = ParamSpec("P")
T = TypeVar("T")

_workers = 4
log = logging.getLogger("retouch.runtime")
_limiter: anyio.CapacityLimiter | None = None


def configure_workers(count: int) -> None:
    """Set how many CPU-bound calls may run at once in this process."""
    global _workers, _limiter
    _workers = count
    _limiter = None


def _get_limiter() -> anyio.CapacityLimiter:
    # Created lazily: a CapacityLimiter binds to the event loop that first uses it.
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(_workers)
    return _limiter


async def run_sync(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``func(*args, **kwargs)`` in a worker thread and await its result."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs), limiter=_get_limiter())


class SerialWorker:
    """One thread of its own that runs calls one at a time, in order: for what must stay on one
    thread (a SQLite connection) without taking one of the shared workers of :func:`run_sync`."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``func(*args, **kwargs)`` on the worker's thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, *args, **kwargs))

    def close(self) -> None:
        """Finish the calls already queued, then stop the thread."""
        self._executor.shutdown(wait=True)


def start_thread(func: Callable[[], object], *, name: str) -> threading.Thread:
    """Start ``func()`` in a daemon thread called ``name`` and return at once. An exception that
    escapes ``func`` is logged (with the thread's name), never lost silently."""

    def target() -> None:
        try:
            func()
        except BaseException:
            log.exception("thread %s failed", name)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
