"""Whether the data directory can store what the service accepts: enough free space, and writable.

Checked before a job is accepted (a full or read-only store is a 507 / 503 naming the cause, not a
job that fails later with ``No space left on device``) and by the health check. The answer is
cached for ``ttl`` seconds, so a burst of submissions costs one probe; a write that fails anywhere
(:meth:`StorageGuard.failed`) takes effect at once.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from retouch.runtime.concurrency import run_sync
from retouch.runtime.problems import ProblemError

__all__ = ["StorageGuard", "StorageProblem", "storage_loop", "storage_problem_of"]

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True)
class StorageProblem:
    """Why the store cannot take writes now: ``status`` 507 (full) or 503 (not writable)."""

    status: int
    detail: str

    def error(self) -> ProblemError:
        """The problem a refused submission answers."""
        return ProblemError(self.status, self.detail, headers={"Retry-After": "30"})


def storage_problem_of(exc: BaseException, root: Path) -> StorageProblem | None:
    """The :class:`StorageProblem` an exception from a write means, or ``None`` when it is not
    about the store (SQLite's "database or disk is full" and "readonly database" count)."""
    if isinstance(exc, OSError):
        if exc.errno in _FULL:
            return StorageProblem(507, f"the data directory {root} is full: {exc.strerror or exc}")
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return StorageProblem(503, f"the data directory {root} cannot be written: {exc.strerror or exc}")
        return StorageProblem(503, f"the data directory {root} failed a write: {exc}")
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if "full" in text:
            return StorageProblem(507, f"the data directory {root} is full: the job database says {text!r}")
        if "readonly" in text or "read-only" in text or "disk I/O" in text or "unable to open" in text:
            return StorageProblem(503, f"the data directory {root} cannot be written: the job database says {text!r}")
    return None


class StorageGuard:
    """Probes ``root``: at least ``min_free_bytes`` free, and a small file can be written,
    synced and removed there."""

    def __init__(self, root: Path, min_free_bytes: int, ttl_s: float = 2.0) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._problem: StorageProblem | None = None

    def problem(self) -> StorageProblem | None:
        """What is wrong with the store now (cached for ``ttl_s`` seconds); ``None`` when fine.
        Blocking (it writes a file): call it off the event loop where latency matters."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= self.ttl_s:
                self._problem = self._probe()
                self._checked_at = now
            return self._problem

    def cached(self) -> StorageProblem | None:
        """What the last probe (or failed write) found, without probing."""
        return self._problem

    def failed(self, exc: BaseException) -> StorageProblem | None:
        """Note a write that failed with ``exc``; returns the problem it means (``None``: not a
        storage failure). The next :meth:`problem` probes again instead of trusting its cache."""
        found = storage_problem_of(exc, self.root)
        if found is not None:
            with self._lock:
                self._problem = found
                self._checked_at = -float("inf")
        return found

    def _probe(self) -> StorageProblem | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            stats = os.statvfs(self.root)
        except OSError as exc:
            return storage_problem_of(exc, self.root)
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free_bytes:
            return StorageProblem(
                507,
                f"the data directory {self.root} is full: {free // (1024 * 1024)} MiB free, "
                f"at least {self.min_free_bytes // (1024 * 1024)} MiB are kept free (RETOUCH_JOBS_MIN_FREE_BYTES)",
            )
        try:
            fd, name = tempfile.mkstemp(dir=self.root, prefix=".probe-")
        except OSError as exc:
            return storage_problem_of(exc, self.root)
        try:
            try:
                os.write(fd, b"probe")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            return storage_problem_of(exc, self.root)
        finally:
            Path(name).unlink(missing_ok=True)
        return None


async def storage_loop(guard: StorageGuard, interval_s: float = 10.0) -> None:
    """Keep :meth:`StorageGuard.cached` fresh (the health check reads it without touching the
    disk on the event loop); an idle service probes every ``interval_s`` seconds, a busy one on
    every submit anyway (at most every ``ttl_s``)."""
    while True:
        await run_sync(guard.problem)
        await asyncio.sleep(max(interval_s, guard.ttl_s))
