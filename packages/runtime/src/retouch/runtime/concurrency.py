"""CPU-bound work runs in worker threads, never on the event loop, with bounded concurrency."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

__all__ = ["SerialWorker", "configure_workers", "run_sync"]

P = ParamSpec("P")
T = TypeVar("T")

_workers = 4
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
