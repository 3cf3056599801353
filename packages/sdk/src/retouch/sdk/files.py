"""Files written whole or not at all: what the SDK's outputs and the jobs' blob store both need."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TEMPORARY_PREFIX", "atomic_path", "copy_atomically", "write_atomically"]

#: Temporary files start with this (hidden, and skipped by anything that lists finished files).
TEMPORARY_PREFIX = "."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling of ``path`` (``.<name>.<random>.partial``, parents created) for the block
    to fill; when it ends without error the file is flushed to disk and renamed over ``path``, so
    ``path`` is either its old content or all of the new one, never a part. On an error (a full
    disk) the temporary file is removed and the error raised."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMPORARY_PREFIX}{target.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as out:
            # A crash after the rename must not leave a renamed but empty file.
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path`; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def copy_atomically(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Copy the file ``source`` to ``path`` through :func:`atomic_path`; return the path."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    return Path(path)
