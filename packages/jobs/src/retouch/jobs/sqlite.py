"""The jobs database's connections: each on a thread of its own, all to one SQLite file in WAL mode.

The job store and the webhook outbox each hold one :class:`SqliteDatabase` connection (WAL lets
both write the same file); what differs is only the schema each creates, in :meth:`_setup`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from retouch.runtime.concurrency import SerialWorker

__all__ = ["BUSY_TIMEOUT_MS", "SqliteDatabase"]

T = TypeVar("T")

#: How long a write waits for another connection's transaction before it fails.
BUSY_TIMEOUT_MS = 5000


class SqliteDatabase:
    """One connection to the database at ``path`` (created with its parent directory), used only on
    its own thread (``thread_name``): every call goes through :meth:`_call`."""

    def __init__(self, path: Path, *, thread_name: str) -> None:
        self.path = path
        self._worker = SerialWorker(thread_name)
        self._conn: sqlite3.Connection | None = None

    async def _call(self, func: Callable[..., T], *args: object) -> T:
        return await self._worker.run(func, *args)

    async def open(self) -> None:
        """Create the database file (WAL mode) and this connection's schema."""
        await self._call(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only a power loss can drop the last commits).
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._setup(conn)
        self._conn = conn

    def _setup(self, conn: sqlite3.Connection) -> None:
        """Create (or migrate) the tables this connection uses; on the connection's thread."""

    async def close(self) -> None:
        """Close the connection and stop its thread."""
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._worker.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection (used on its own thread only)."""
        if self._conn is None:
            raise RuntimeError(f"{type(self).__name__} is not open")
        return self._conn
