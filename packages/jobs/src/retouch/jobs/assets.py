"""Assets: pictures uploaded once, stored in the jobs' :class:`~retouch.jobs.blobs.BlobStore` under
their content hash, held by owners, expiring with the job TTL unless a job still uses them.

Layout (``retouch.runtime.assets`` defines the keys): ``assets/<id>/data`` holds the bytes,
``assets/<id>/meta.json`` the :class:`~retouch.sdk.models.assets.Asset` record, and one marker a
holder ``assets/<id>/owners/<hash of owner>`` saying when that owner last used it. The same picture
uploaded by two owners is stored once; each sees only what it holds (another owner gets 404);
the bytes go when the last holder's marker goes.

An upload streams to a staging file while it is hashed, then is renamed into the store, so the
service never holds a whole picture in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import anyio.from_thread
import msgspec
from PIL import Image, UnidentifiedImageError

from retouch.jobs.blobs import BlobStore
from retouch.runtime import assets as layout
from retouch.runtime.concurrency import run_sync
from retouch.runtime.images import ImageLimits
from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk import codec
from retouch.sdk.models.assets import Asset
from retouch.sdk.models.generation import GenerationRequest

__all__ = ["AssetStore", "BlobAssetSource", "request_asset_ids"]

log = logging.getLogger("retouch.jobs")

_WRITE_CHUNK = 1024 * 1024


class _Holder(msgspec.Struct, kw_only=True):
    """One owner's marker on an asset."""

    owner: str
    touched: float


def request_asset_ids(request: GenerationRequest) -> set[str]:
    """The assets an edit refers to (``asset:<id>`` in any of its image fields)."""
    fields: list[bytes | None] = [request.input_image, request.mask, request.reference_image, request.reference_mask_R]
    fields.extend(request.conditional_images or ())
    return {asset_id for data in fields if data is not None and (asset_id := codec.asset_id_of(data)) is not None}


class _Probe(msgspec.Struct):
    width: int
    height: int
    format: str
    content_type: str


def _probe(path: Path, limits: ImageLimits, field: str) -> _Probe:
    """The picture's header (no pixel decoded): its size within the limits, its format."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            # The size every service works with is the upright one (EXIF orientation applied).
            if _orientation(image) in (5, 6, 7, 8):
                width, height = height, width
            fmt = (image.format or "").lower()
            content_type = Image.MIME.get(image.format or "", "application/octet-stream")
    except UnidentifiedImageError:
        raise field_error(field, "not a recognised image (PNG, JPEG, WebP, ...)", 415) from None
    except Image.DecompressionBombError as exc:
        raise field_error(field, f"image refused as a decompression bomb: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise field_error(field, f"image header is unreadable: {exc}") from None
    limits.check(width, height, field)
    return _Probe(width, height, fmt, content_type)


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation from what the header holds. Never ``getexif()`` on a PNG: Pillow
    decodes the whole picture to look for an eXIf chunk after the pixels."""
    with contextlib.suppress(Exception):
        if image.format in ("JPEG", "MPO", "TIFF", "WEBP"):
            return image.getexif().get(0x0112)
        raw = image.info.get("exif")
        if raw:
            exif = Image.Exif()
            exif.load(raw)
            return exif.get(0x0112)
    return None


class AssetStore:
    """Create, read, delete and expire assets in ``blobs``; uploads are staged in ``staging``."""

    def __init__(self, blobs: BlobStore, staging: Path, limits: ImageLimits, ttl_s: float) -> None:
        self.blobs = blobs
        self.staging = staging
        self.limits = limits
        self.ttl_s = ttl_s

    # -- create ---------------------------------------------------------------------------------
    async def upload(self, owner: str, chunks: AsyncIterator[bytes], *, field: str = "body") -> Asset:
        """Store the picture ``chunks`` make up, for ``owner``; streamed to a staging file while it
        is hashed, checked from its header, then moved into the store."""
        await run_sync(self.staging.mkdir, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.staging, prefix="upload-")
        os.close(fd)
        path = Path(name)
        try:
            digest = hashlib.sha256()
            size = 0
            pending: list[bytes] = []
            pending_size = 0
            async with await anyio.open_file(path, "wb") as out:
                async for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    pending.append(chunk)
                    pending_size += len(chunk)
                    # Fewer, larger writes: each one is a hop to a worker thread.
                    if pending_size >= _WRITE_CHUNK:
                        await out.write(b"".join(pending))
                        pending, pending_size = [], 0
                if pending:
                    await out.write(b"".join(pending))
            if size == 0:
                raise field_error(field, "the upload is empty: send the picture's bytes")
            return await self._store(owner, digest.hexdigest()[:32], path, size, field)
        finally:
            await run_sync(path.unlink, True)

    async def put_bytes(self, owner: str, data: bytes) -> Asset:
        """Store ``data`` (a result image) as an asset of ``owner``."""
        await run_sync(self.staging.mkdir, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.staging, prefix="result-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                await run_sync(out.write, data)
            return await self._store(owner, layout.content_id(data), path, len(data), "image")
        finally:
            await run_sync(path.unlink, True)

    async def _store(self, owner: str, asset_id: str, path: Path, size: int, field: str) -> Asset:
        meta = await self._meta(asset_id)
        if meta is None:
            probe = await run_sync(_probe, path, self.limits, field)
            meta = Asset(
                asset_id=asset_id,
                width=probe.width,
                height=probe.height,
                format=probe.format,
                bytes=size,
                content_type=probe.content_type,
            )
            await self.blobs.put_file(layout.data_key(asset_id), path)
            await self.blobs.put(layout.meta_key(asset_id), codec.encode(meta))
        await self.touch(owner, [asset_id])
        return meta

    # -- read -----------------------------------------------------------------------------------
    async def _meta(self, asset_id: str) -> Asset | None:
        raw = await self.blobs.get(layout.meta_key(asset_id))
        return None if raw is None else codec.decode(raw, Asset)

    async def holds(self, owner: str, asset_id: str) -> bool:
        """Whether ``owner`` holds ``asset_id``."""
        if not layout.is_asset_id(asset_id):
            return False
        return await self.blobs.get(layout.owner_key(asset_id, owner)) is not None

    async def get(self, owner: str, asset_id: str) -> Asset:
        """The record of ``owner``'s asset; 404 if ``owner`` does not hold it."""
        meta = await self._meta(asset_id) if await self.holds(owner, asset_id) else None
        if meta is None:
            raise ProblemError(404, f"no asset {asset_id}")
        return meta

    async def read(self, owner: str, asset_id: str) -> bytes | None:
        """The bytes of ``owner``'s asset, or ``None``."""
        if not await self.holds(owner, asset_id):
            return None
        return await self.blobs.get(layout.data_key(asset_id))

    # -- use, delete, expire --------------------------------------------------------------------
    async def touch(self, owner: str, asset_ids: Iterable[str]) -> None:
        """Mark ``owner``'s use of ``asset_ids`` now (their TTL restarts)."""
        marker = codec.encode(_Holder(owner=owner, touched=time.time()))
        for asset_id in asset_ids:
            if layout.is_asset_id(asset_id):
                await self.blobs.put(layout.owner_key(asset_id, owner), marker)

    async def delete(self, owner: str, asset_id: str) -> None:
        """``owner`` lets go of ``asset_id`` (404 if it does not hold it); the bytes go with the
        last holder."""
        if not await self.holds(owner, asset_id):
            raise ProblemError(404, f"no asset {asset_id}")
        await self.blobs.delete(layout.owner_key(asset_id, owner))
        await self._drop_if_unheld(asset_id)

    async def _drop_if_unheld(self, asset_id: str) -> None:
        if not await self.blobs.names(layout.owners_prefix(asset_id)):
            await self.blobs.delete_prefix(f"assets/{asset_id}")

    async def expire_once(self, in_use: set[str], now: float | None = None) -> int:
        """Let go of every hold not used for the TTL, except on assets a job still uses; returns
        how many assets were deleted."""
        cutoff = (time.time() if now is None else now) - self.ttl_s
        deleted = 0
        for asset_id in await self.blobs.names("assets"):
            if not layout.is_asset_id(asset_id) or asset_id in in_use:
                continue
            prefix = layout.owners_prefix(asset_id)
            for name in await self.blobs.names(prefix):
                key = f"{prefix}/{name}"
                raw = await self.blobs.get(key)
                holder = None
                if raw is not None:
                    with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                        holder = codec.decode(raw, _Holder)
                if holder is None or holder.touched < cutoff:
                    await self.blobs.delete(key)
            if not await self.blobs.names(prefix):
                await self.blobs.delete_prefix(f"assets/{asset_id}")
                deleted += 1
        if deleted:
            log.info("expired %d assets", deleted)
        return deleted


class BlobAssetSource:
    """The jobs service's own :class:`~retouch.runtime.assets.AssetSource`: its store, read from
    the worker thread that decodes (through the event loop that owns the store)."""

    def __init__(self, store: AssetStore) -> None:
        self.store = store

    def read(self, asset_id: str, owner: str) -> bytes | None:
        """The bytes, if ``owner`` holds ``asset_id``."""
        return anyio.from_thread.run(self.store.read, owner, asset_id)
