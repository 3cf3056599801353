"""What a failed write means for the jobs service's store: full (507) or not writable (503)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from retouch.jobs.storage import StorageGuard, storage_problem_of


@pytest.mark.parametrize(
    ("exc", "status", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 507, "is full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), 507, "is full"),
        (OSError(errno.EROFS, "Read-only file system"), 503, "cannot be written"),
        (OSError(errno.EACCES, "Permission denied"), 503, "cannot be written"),
        (OSError(errno.ENOTDIR, "Not a directory"), 503, "failed a write"),
        (sqlite3.OperationalError("database or disk is full"), 507, "is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), 503, "cannot be written"),
    ],
)
def test_write_failures_name_the_directory_and_the_cause(exc: BaseException, status: int, words: str) -> None:
    problem = storage_problem_of(exc, Path("/data/jobs"))
    assert problem is not None
    assert problem.status == status
    assert problem.detail.startswith("the data directory /data/jobs ")
    assert words in problem.detail
    error = problem.error()
    assert error.status == status and error.headers == {"Retry-After": "30"}


def test_other_errors_are_not_storage_failures() -> None:
    assert storage_problem_of(ValueError("bad"), Path("/data")) is None
    assert storage_problem_of(sqlite3.IntegrityError("UNIQUE constraint failed"), Path("/data")) is None


def test_the_guard_probes_writes_and_free_space(tmp_path: Path) -> None:
    guard = StorageGuard(tmp_path / "jobs", min_free_bytes=1, ttl_s=0.0)
    assert guard.problem() is None
    assert not any(path.name.startswith(".probe-") for path in (tmp_path / "jobs").iterdir())
    full = StorageGuard(tmp_path / "jobs", min_free_bytes=2**62, ttl_s=0.0)
    problem = full.problem()
    assert problem is not None and problem.status == 507
    assert "RETOUCH_JOBS_MIN_FREE_BYTES" in problem.detail
    # A directory that is a file cannot take writes.
    (tmp_path / "file").write_bytes(b"x")
    blocked = StorageGuard(tmp_path / "file", min_free_bytes=1, ttl_s=0.0).problem()
    assert blocked is not None and blocked.status == 503


def test_a_failed_write_is_reported_until_the_next_probe_clears_it(tmp_path: Path) -> None:
    guard = StorageGuard(tmp_path, min_free_bytes=1, ttl_s=3600.0)
    assert guard.problem() is None
    assert guard.failed(OSError(errno.ENOSPC, "No space left on device")) is not None
    assert guard.cached() is not None and guard.cached().status == 507  # type: ignore[union-attr]
    # The next probe looks again instead of trusting the cache: the disk has room.
    assert guard.problem() is None
    assert guard.failed(KeyError("x")) is None
