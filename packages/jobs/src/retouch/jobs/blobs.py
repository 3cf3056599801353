"""The ``BlobStore`` seam: job requests and result images (a local directory, or a Modal Volume)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

from retouch.runtime.concurrency import run_sync
from retouch.sdk.files import TEMPORARY_PREFIX, copy_atomically, write_atomically

__all__ = ["BlobStore", "LocalBlobStore", "check_key", "request_key", "result_key"]

_KEY = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}(/[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}){0,3}$")


class BlobStore(Protocol):
    """Opaque bytes under slash-separated keys; a job's blobs share the prefix ``<task_id>/``."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (replacing what was there)."""

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None``."""

    async def delete(self, key: str) -> None:
        """Delete the blob under ``key`` (a missing one is fine)."""

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under ``prefix/`` (nothing there is fine)."""

    async def put_file(self, key: str, path: Path) -> None:
        """Move the local file ``path`` into the store under ``key`` (streamed, never read whole
        into memory); ``path`` is gone afterwards."""

    def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under ``key`` piece by piece (``FileNotFoundError`` when the first piece is
        awaited if there is no such blob)."""

    async def names(self, prefix: str) -> list[str]:
        """The names directly under ``prefix/`` (files and folders; nothing there: empty)."""


def check_key(key: str) -> str:
    """``key`` if it is a safe relative key (no ``..``, no absolute path), else ``ValueError``."""
    if not _KEY.match(key):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def request_key(task_id: str) -> str:
    """Where a job's encoded request is kept until it finishes."""
    return f"{task_id}/request.json"


def result_key(task_id: str) -> str:
    """Where a job's result image (PNG) is kept until it expires."""
    return f"{task_id}/result.png"


class LocalBlobStore:
    """Blobs as files under ``root``; writes are atomic (a temporary file renamed into place)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``root/key`` atomically, off the event loop."""
        await run_sync(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        write_atomically(path, data)

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None``."""
        return await run_sync(self._get, self._path(key))

    @staticmethod
    def _get(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        """Remove the file ``root/key``."""
        await run_sync(self._path(key).unlink, True)

    async def delete_prefix(self, prefix: str) -> None:
        """Remove the directory ``root/prefix``."""
        await run_sync(shutil.rmtree, self._path(prefix), True)

    async def put_file(self, key: str, path: Path) -> None:
        """Rename ``path`` to ``root/key`` (a copy first when it is on another filesystem)."""
        await run_sync(self._put_file, self._path(key), path)

    @staticmethod
    def _put_file(target: Path, source: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:
            copy_atomically(source, target)
            source.unlink(missing_ok=True)

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The file ``root/key`` in 1 MiB pieces."""
        async with await anyio.open_file(self._path(key), "rb") as src:
            while chunk := await src.read(_CHUNK):
                yield chunk

    async def names(self, prefix: str) -> list[str]:
        """The entries of the directory ``root/prefix`` (temporary files left out)."""
        return await run_sync(self._names, self._path(prefix))

    @staticmethod
    def _names(path: Path) -> list[str]:
        try:
            return sorted(name for name in os.listdir(path) if not name.startswith(TEMPORARY_PREFIX))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def local_path(self, key: str) -> Path:
        """Where ``key`` lives on disk (for answering with the file itself)."""
        return self._path(key)


_CHUNK = 1024 * 1024
