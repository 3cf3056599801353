"""CPU-bound work runs in worker threads, never on the event loop, with bounded concurrency."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

__all__ = ["configure_workers", "run_sync"]

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
