"""``JobStore`` on SQLite in WAL mode: durable across restarts (and SIGKILL), one writer thread.

Every statement runs on a single dedicated thread that owns the connection, so the event loop
never waits on the disk and writes are applied in the order they were issued. The record itself
is stored encoded in ``data``; the other columns exist for lookups (idempotency keys, active
jobs, expiry).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from retouch.jobs.sqlite import SqliteDatabase
from retouch.jobs.state import Job
from retouch.jobs.store import decode_job, encode_job

__all__ = ["MIGRATE", "SCHEMA", "SqliteJobStore"]


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    task_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    idempotency_key TEXT,
    status TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs(owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_active_v2 ON jobs(status, seq) WHERE status IN ('queued', 'processing');
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);
"""

#: Databases written before the status words became the seed system's: the ``status`` column is
#: rewritten once (the records in ``data`` are mapped when read, see ``decode_job``) and the old
#: partial index, which named the old word, is dropped.
MIGRATE = """
DROP INDEX IF EXISTS jobs_active;
UPDATE jobs SET status = 'processing' WHERE status = 'running';
UPDATE jobs SET status = 'done' WHERE status = 'succeeded';
UPDATE jobs SET status = 'error' WHERE status = 'failed';
"""

_INSERT = (
    "INSERT INTO jobs (task_id, owner, idempotency_key, status, seq, created_at, finished_at, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_UPDATE = "UPDATE jobs SET status = ?, finished_at = ?, data = ? WHERE task_id = ?"


def row_values(job: Job) -> tuple[object, ...]:
    """The column values of ``job`` in ``_INSERT`` order."""
    return (
        job.task_id,
        job.owner,
        job.idempotency_key,
        job.status,
        job.seq,
        job.created_at,
        job.finished_at,
        encode_job(job),
    )


class SqliteJobStore(SqliteDatabase):
    """Job records in ``path`` (created with its parent directory)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, thread_name="jobs-sqlite")

    def _setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(MIGRATE if _has_jobs_table(conn) else "")
        conn.executescript(SCHEMA)

    # -- JobStore -------------------------------------------------------------------------------
    async def create(self, job: Job) -> tuple[Job, bool]:
        """Insert ``job`` unless its idempotency key is taken (then return the holder)."""
        return await self._call(self._create, row_values(job), job)

    def _create(self, values: tuple[object, ...], job: Job) -> tuple[Job, bool]:
        cursor = self.conn.execute(_INSERT, values)
        if cursor.rowcount == 1:
            return job, True
        row = self.conn.execute(
            "SELECT data FROM jobs WHERE owner = ? AND idempotency_key = ?", (job.owner, job.idempotency_key)
        ).fetchone()
        if row is None:
            raise RuntimeError(f"task id {job.task_id} collided with an existing job")
        return decode_job(row[0]), False

    async def get(self, task_id: str) -> Job | None:
        """The job with ``task_id``, or ``None``."""
        return await self._call(self._get, task_id)

    def _get(self, task_id: str) -> Job | None:
        row = self.conn.execute("SELECT data FROM jobs WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else decode_job(row[0])

    async def save(self, job: Job) -> None:
        """Write the record (encoded now, so later changes to ``job`` do not leak into it)."""
        await self._call(self._save, (job.status, job.finished_at, encode_job(job), job.task_id))

    def _save(self, values: tuple[object, ...]) -> None:
        self.conn.execute(_UPDATE, values)

    async def active(self) -> list[Job]:
        """Queued and processing jobs, oldest first."""
        return await self._call(self._active)

    def _active(self) -> list[Job]:
        rows = self.conn.execute(
            "SELECT data FROM jobs WHERE status IN ('queued', 'processing') ORDER BY seq"
        ).fetchall()
        return [decode_job(row[0]) for row in rows]

    async def expire(self, finished_before: float) -> list[Job]:
        """Delete and return finished jobs older than ``finished_before``."""
        return await self._call(self._expire, finished_before)

    async def list_owned(self, owner: str, *, status: str | None, before_seq: int | None, limit: int) -> list[Job]:
        """``owner``'s jobs, newest first (descending ``seq``), below ``before_seq`` when given."""
        return await self._call(self._list_owned, owner, status, before_seq, limit)

    def _list_owned(self, owner: str, status: str | None, before_seq: int | None, limit: int) -> list[Job]:
        sql = "SELECT data FROM jobs WHERE owner = ?"
        args: list[object] = [owner]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if before_seq is not None:
            sql += " AND seq < ?"
            args.append(before_seq)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return [decode_job(row[0]) for row in self.conn.execute(sql, args).fetchall()]

    async def delete(self, task_id: str) -> None:
        """Delete the record of ``task_id`` (and with it its idempotency key)."""
        await self._call(self._delete, task_id)

    def _delete(self, task_id: str) -> None:
        self.conn.execute("DELETE FROM jobs WHERE task_id = ?", (task_id,))

    def _expire(self, finished_before: float) -> list[Job]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT data FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?", (finished_before,)
            ).fetchall()
            conn.execute("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?", (finished_before,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return [decode_job(row[0]) for row in rows]


def _has_jobs_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone() is not None
