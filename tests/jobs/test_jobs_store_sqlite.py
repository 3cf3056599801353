"""The SQLite job store: WAL, round trips, atomic idempotency keys, recovery order, expiry,
durability across a reopen."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from retouch.jobs.state import Job
from retouch.jobs.store_sqlite import SqliteJobStore


def job(task_id: str, seq: int, owner: str = "o", key: str | None = None, status: str = "queued") -> Job:
    return Job(
        task_id=task_id,
        owner=owner,
        engine="default",
        seq=seq,
        created_at=float(seq),
        idempotency_key=key,
        status=status,  # type: ignore[arg-type]
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    s = SqliteJobStore(tmp_path / "jobs" / "jobs.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_the_database_is_in_wal_mode(store: SqliteJobStore) -> None:
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_records_round_trip(store: SqliteJobStore) -> None:
    record = job("a", 1)
    assert await store.create(record) == (record, True)
    record.start(5.0)
    record.current_step = 3
    await store.save(record)
    loaded = await store.get("a")
    assert loaded == record and loaded is not record
    assert await store.get("missing") is None


async def test_saving_copies_the_record_as_it_was(store: SqliteJobStore) -> None:
    record = job("a", 1)
    await store.create(record)
    saving = asyncio.ensure_future(store.save(record))
    await asyncio.sleep(0)  # the save has started: it is waiting for the writer thread
    record.fail("changed after the save was issued", 9.0)
    await saving
    assert (await store.get("a")).status == "queued"  # type: ignore[union-attr]


async def test_an_idempotency_key_is_taken_once_per_owner(store: SqliteJobStore) -> None:
    first = job("a", 1, key="k")
    assert (await store.create(first))[1]
    holder, created = await store.create(job("b", 2, key="k"))
    assert (holder.task_id, created) == ("a", False)
    assert await store.get("b") is None
    assert (await store.create(job("c", 3, owner="other", key="k")))[1]
    assert (await store.create(job("d", 4)))[1] and (await store.create(job("e", 5)))[1], "no key, no limit"


async def test_concurrent_creates_with_one_key_make_one_record(store: SqliteJobStore) -> None:
    results = await asyncio.gather(*(store.create(job(f"t{i}", i, key="same")) for i in range(20)))
    assert sum(created for _, created in results) == 1
    assert len({holder.task_id for holder, _ in results}) == 1


async def test_a_task_id_collision_is_an_error(store: SqliteJobStore) -> None:
    await store.create(job("a", 1))
    with pytest.raises(RuntimeError, match="collided"):
        await store.create(job("a", 2))


async def test_active_jobs_come_back_oldest_first(store: SqliteJobStore) -> None:
    for task_id, seq, status in [("c", 3, "queued"), ("a", 1, "processing"), ("b", 2, "done"), ("d", 0, "queued")]:
        await store.create(job(task_id, seq, status=status))
    assert [j.task_id for j in await store.active()] == ["d", "a", "c"]


async def test_expire_deletes_only_old_finished_jobs(store: SqliteJobStore) -> None:
    old, recent, running = job("old", 1, key="k1"), job("recent", 2), job("processing", 3)
    for record in (old, recent, running):
        await store.create(record)
    old.start(1.0)
    old.fail("x", 10.0)
    recent.cancel(50.0)
    running.start(1.0)
    for record in (old, recent, running):
        await store.save(record)
    expired = await store.expire(finished_before=20.0)
    assert [j.task_id for j in expired] == ["old"]
    assert await store.get("old") is None and await store.get("recent") is not None
    assert (await store.create(job("again", 4, key="k1")))[1], "an expired job frees its idempotency key"


async def test_records_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteJobStore(path)
    await first.open()
    await first.create(job("a", 1))
    await first.close()
    second = SqliteJobStore(path)
    await second.open()
    assert (await second.get("a")) is not None
    await second.close()


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    closed = SqliteJobStore(tmp_path / "x.sqlite3")
    with pytest.raises(RuntimeError, match="not open"):
        await closed.get("a")


async def test_a_database_written_with_the_old_status_words_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    old_schema = """
    CREATE TABLE jobs (task_id TEXT PRIMARY KEY, owner TEXT NOT NULL, idempotency_key TEXT,
        status TEXT NOT NULL, seq INTEGER NOT NULL, created_at REAL NOT NULL, finished_at REAL,
        data BLOB NOT NULL);
    CREATE INDEX jobs_active ON jobs(status, seq) WHERE status IN ('queued', 'running');
    """
    rows = [("r", "running", None), ("s", "succeeded", 3.0), ("f", "failed", 4.0), ("q", "queued", None)]
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
        for seq, (task_id, status, finished) in enumerate(rows):
            data = (
                f'{{"task_id":"{task_id}","owner":"o","backend":"default","seq":{seq},'
                f'"status":"{status}","created_at":1.0,"finished_at":{"null" if finished is None else finished}}}'
            )
            conn.execute(
                "INSERT INTO jobs VALUES (?, 'o', NULL, ?, ?, 1.0, ?, ?)",
                (task_id, status, seq, finished, data.encode()),
            )
    store = SqliteJobStore(path)
    await store.open()
    try:
        assert [(j.task_id, j.status) for j in await store.active()] == [("r", "processing"), ("q", "queued")]
        assert (await store.get("s")).status == "done"  # type: ignore[union-attr]
        assert (await store.get("f")).status == "error"  # type: ignore[union-attr]
        # The engine was stored as ``backend``, and still is (older releases read the records too).
        assert (await store.get("s")).engine == "default"  # type: ignore[union-attr]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT DISTINCT status FROM jobs")) == [
            "done",
            "error",
            "processing",
            "queued",
        ]
