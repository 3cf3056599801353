"""Files written whole or not at all: what the SDK's outputs and the jobs' blob store both need."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["TEMPORARY_PREFIX", "write_atomically"]

#: Temporary files start with this (hidden, and skipped by anything that lists finished files).
TEMPORARY_PREFIX = "."


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` (parents created) so that ``path`` is either its old content or
    all of ``data``, never a part: a temporary sibling (``.<name>.<random>.partial``), flushed to
    disk, then renamed over it. A failure (a full disk) removes the temporary file and raises."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMPORARY_PREFIX}{target.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            # A crash after the rename must not leave a renamed but empty file.
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
