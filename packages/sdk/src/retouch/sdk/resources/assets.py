"""``client.assets``: pictures uploaded once (``/api/assets``) and referred to as ``asset:<id>``.

The id is the content hash of the bytes, so :meth:`Assets.ref` knows an id without asking the
server; a client uploads each picture once and then passes the reference in any image field.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from retouch.sdk import _codec
from retouch.sdk._base import NOT_GIVEN, RequestSpec, Timeout, parse_response
from retouch.sdk._codec import AssetRef, asset_id_of
from retouch.sdk.images import ImageInput, to_bytes
from retouch.sdk.models.assets import Asset
from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = [
    "UPLOAD_THRESHOLD",
    "Assets",
    "AsyncAssets",
    "asset_id_of",
    "content_id",
    "sniff_content_type",
    "worth_uploading",
]

#: Pictures larger than this are uploaded as assets by :meth:`~retouch.sdk.resources.jobs.Jobs.edit`
#: and the CLI, then passed by reference; smaller ones travel inline (one round trip fewer).
UPLOAD_THRESHOLD: Final = 1024 * 1024
_CHUNK = 1024 * 1024
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff_content_type(head: bytes) -> str:
    """The ``image/*`` type the first bytes of a picture say (``image/octet-stream`` if unknown;
    the server reads the format from the bytes either way)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    return "image/octet-stream"


def content_id(data: bytes) -> str:
    """The asset id of ``data``: what the server will name it (and smart-mask's ``image_id``)."""
    return hashlib.sha256(data).hexdigest()[:32]


def _is_ref(image: Any) -> AssetRef | None:
    if isinstance(image, AssetRef):
        return image
    if isinstance(image, str) and image.startswith(_codec.ASSET_PREFIX):
        return AssetRef.of(image[len(_codec.ASSET_PREFIX) :])
    if isinstance(image, Asset):
        return image.ref
    return None


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            yield chunk


def _head(path: Path) -> bytes:
    with path.open("rb") as src:
        return src.read(16)


async def _async_file_chunks(path: Path) -> AsyncIterator[bytes]:
    # One open file, read piece by piece off the event loop.
    src = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(src.read, _CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(src.close)


def _upload_spec(data: bytes, content_type: str | None) -> RequestSpec:
    # Content-addressed: the same bytes make the same asset, so a retry cannot make a second one.
    return RequestSpec(
        "POST",
        "/api/assets",
        body=data,
        cast=Asset,
        idempotent=True,
        headers={"Content-Type": content_type or sniff_content_type(data[:16])},
    )


def _path_of(image: ImageInput) -> Path | None:
    return Path(image) if isinstance(image, str | os.PathLike) else None


def _asset_path(asset_id: str) -> str:
    return f"/api/assets/{quote(asset_id, safe='')}"


class Assets(SyncResource):
    """Upload, fetch and delete assets (``/api/assets``)."""

    def upload(self, image: ImageInput, *, content_type: str | None = None, timeout: Timeout = NOT_GIVEN) -> Asset:
        """``POST /api/assets``: store a picture (a path is streamed from disk, not read whole)."""
        path = _path_of(image)
        if path is None:
            result: Asset = self._client._send(_upload_spec(to_bytes(image), content_type), timeout)
            return result
        head = _head(path)
        response = self._client.request_raw(
            "POST",
            "/api/assets",
            content=_file_chunks(path),
            headers={"Content-Type": content_type or sniff_content_type(head)},
            timeout=timeout,
            stream=False,
        )
        asset: Asset = parse_response(response, Asset)
        return asset

    def get(self, asset_id: str, *, timeout: Timeout = NOT_GIVEN) -> bytes:
        """``GET /api/assets/{asset_id}``: the picture's bytes."""
        data: bytes = self._client._send(RequestSpec("GET", _asset_path(asset_id), idempotent=True), timeout)
        return data

    def delete(self, asset_id: str, *, timeout: Timeout = NOT_GIVEN) -> None:
        """``DELETE /api/assets/{asset_id}``: delete it now (404 if it is not yours or is gone)."""
        self._client._send(RequestSpec("DELETE", _asset_path(asset_id), idempotent=True), timeout)

    def ref(self, image: ImageInput | AssetRef | Asset, *, timeout: Timeout = NOT_GIVEN) -> AssetRef:
        """``asset:<id>`` for ``image``: a reference as it is, else the picture uploaded (once per
        client: a picture this client already uploaded is not sent again)."""
        known = _is_ref(image)
        if known is not None:
            return known
        data = to_bytes(image)
        digest = content_id(data)
        if digest not in self._client._uploaded:
            self.upload(data, timeout=timeout)
            self._client._uploaded.add(digest)
        return AssetRef.of(digest)


class AsyncAssets(AsyncResource):
    """Async twin of :class:`Assets`."""

    async def upload(
        self, image: ImageInput, *, content_type: str | None = None, timeout: Timeout = NOT_GIVEN
    ) -> Asset:
        """``POST /api/assets`` (see :meth:`Assets.upload`; a path is streamed from disk)."""
        path = _path_of(image)
        if path is None:
            result: Asset = await self._client._send(_upload_spec(to_bytes(image), content_type), timeout)
            return result
        head = await asyncio.to_thread(_head, path)
        response = await self._client.request_raw(
            "POST",
            "/api/assets",
            content=_async_file_chunks(path),
            headers={"Content-Type": content_type or sniff_content_type(head)},
            timeout=timeout,
            stream=False,
        )
        asset: Asset = parse_response(response, Asset)
        return asset

    async def get(self, asset_id: str, *, timeout: Timeout = NOT_GIVEN) -> bytes:
        """``GET /api/assets/{asset_id}``: the picture's bytes."""
        data: bytes = await self._client._send(RequestSpec("GET", _asset_path(asset_id), idempotent=True), timeout)
        return data

    async def delete(self, asset_id: str, *, timeout: Timeout = NOT_GIVEN) -> None:
        """``DELETE /api/assets/{asset_id}``: delete it now."""
        await self._client._send(RequestSpec("DELETE", _asset_path(asset_id), idempotent=True), timeout)

    async def ref(self, image: ImageInput | AssetRef | Asset, *, timeout: Timeout = NOT_GIVEN) -> AssetRef:
        """``asset:<id>`` for ``image``, uploading it once (see :meth:`Assets.ref`)."""
        known = _is_ref(image)
        if known is not None:
            return known
        data = to_bytes(image)
        digest = content_id(data)
        if digest not in self._client._uploaded:
            await self.upload(data, timeout=timeout)
            self._client._uploaded.add(digest)
        return AssetRef.of(digest)


def worth_uploading(image: Any) -> bool:
    """Whether ``image`` is a picture big enough to upload once rather than send inline."""
    if _is_ref(image) is not None:
        return False
    if isinstance(image, bytes | bytearray | memoryview):
        return len(image) > UPLOAD_THRESHOLD
    path = _path_of(image) if isinstance(image, str | os.PathLike) else None
    return path is not None and path.is_file() and path.stat().st_size > UPLOAD_THRESHOLD
