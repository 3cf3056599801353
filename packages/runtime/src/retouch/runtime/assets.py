"""``"asset:<id>"`` in an image field, resolved in one place for every service.

A picture uploaded once to the jobs service (``POST /api/assets``) travels between services as
the reference text (:class:`~retouch.sdk.codec.AssetRef`); whoever decodes it calls
:func:`resolve` (the runtime's :func:`~retouch.runtime.images.open_image` does), which reads it
through the request's :class:`AssetSource` as the request's owner:

- the jobs service reads its own blob store (it owns the assets);
- every other service asks the jobs service over HTTP (``RETOUCH_ASSETS_URL``, with the service
  token and the caller's ``X-Retouch-Owner``), so another owner's asset is a 404 there too.

Both are set per request by :class:`AssetContextMiddleware` (contextvars, so they reach the worker
threads :func:`~retouch.runtime.concurrency.run_sync` starts). The storage layout of assets is
defined here too (:func:`data_key` and friends), once, for the jobs service and any direct reader.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Protocol

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk.codec import ASSET_ID_PATTERN, AssetRef, asset_id_of
from retouch.sdk.models.jobs import OWNER_HEADER

__all__ = [
    "ANONYMOUS",
    "AssetContextMiddleware",
    "AssetSource",
    "DirectoryAssetSource",
    "HttpAssetSource",
    "acting_as",
    "asset_id_of",
    "available",
    "content_id",
    "current_owner",
    "data_key",
    "is_asset_id",
    "meta_key",
    "owner_key",
    "owners_prefix",
    "reference",
    "resolve",
]

#: The owner of requests that carry no ``X-Retouch-Owner`` (no API keys configured).
ANONYMOUS: Final = "anonymous"
_ID = re.compile(ASSET_ID_PATTERN)


def content_id(data: bytes) -> str:
    """The asset id of ``data`` (the first 32 hex digits of its SHA-256; smart-mask's ``image_id``)."""
    return hashlib.sha256(data).hexdigest()[:32]


def is_asset_id(text: str) -> bool:
    """Whether ``text`` has the shape of an asset id."""
    return bool(_ID.match(text))


# -- storage layout (keys in the jobs service's BlobStore) -------------------------------------
def data_key(asset_id: str) -> str:
    """The picture's bytes."""
    return f"assets/{asset_id}/data"


def meta_key(asset_id: str) -> str:
    """The picture's :class:`~retouch.sdk.models.assets.Asset` record (JSON)."""
    return f"assets/{asset_id}/meta.json"


def owners_prefix(asset_id: str) -> str:
    """Where the markers of the owners holding the asset live (one file each)."""
    return f"assets/{asset_id}/owners"


def owner_key(asset_id: str, owner: str) -> str:
    """The marker saying ``owner`` holds ``asset_id`` (owners are hashed: any visible ASCII)."""
    return f"{owners_prefix(asset_id)}/{hashlib.sha256(owner.encode()).hexdigest()[:32]}"


# -- resolution ---------------------------------------------------------------------------------
class AssetSource(Protocol):
    """Where a service reads assets from. Called from worker threads (blocking is fine)."""

    def read(self, asset_id: str, owner: str) -> bytes | None:
        """The bytes of ``asset_id`` if ``owner`` holds it, else ``None``."""


_source: contextvars.ContextVar[AssetSource | None] = contextvars.ContextVar("retouch_asset_source", default=None)
_owner: contextvars.ContextVar[str] = contextvars.ContextVar("retouch_asset_owner", default=ANONYMOUS)


def current_owner() -> str:
    """The owner of the request being handled (``anonymous`` without ``X-Retouch-Owner``)."""
    return _owner.get()


@contextlib.contextmanager
def acting_as(owner: str, source: AssetSource | None = None) -> Iterator[None]:
    """Resolve references as ``owner`` (and through ``source``, if given) inside the block."""
    owner_token = _owner.set(owner)
    source_token = _source.set(source) if source is not None else None
    try:
        yield
    finally:
        _owner.reset(owner_token)
        if source_token is not None:
            _source.reset(source_token)


def available() -> bool:
    """Whether the request being handled can read assets (its service has a source)."""
    return _source.get() is not None


def resolve(data: bytes, field: str = "image") -> bytes:
    """``data`` itself, or the picture an ``asset:<id>`` reference names (read as the current
    owner). An unknown asset, another owner's, or an expired one is a 404 naming ``field``; a
    service with no asset source is a 422. Blocking: call it off the event loop."""
    if not data.startswith(b"asset:"):
        return data
    asset_id = asset_id_of(data)
    if asset_id is None:
        raise field_error(field, "an asset reference is asset:<32 lowercase hex digits>")
    source = _source.get()
    if source is None:
        raise field_error(field, "this service cannot read assets (RETOUCH_ASSETS_URL is not configured)")
    found = source.read(asset_id, current_owner())
    if found is None:
        raise field_error(field, f"asset {asset_id} is unknown or expired; upload the picture again", 404)
    return found


def reference(asset_id: str) -> AssetRef:
    """The ``asset:<id>`` reference to ``asset_id``."""
    return AssetRef.of(asset_id)


class HttpAssetSource:
    """Reads assets from the jobs service (``GET /api/assets/{id}`` with the service token, as the
    owner of the request), for every service but the jobs service itself."""

    def __init__(self, base_url: str, *, service_token: str | None = None, timeout_s: float = 60.0) -> None:
        headers = {"x-service-token": service_token} if service_token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def read(self, asset_id: str, owner: str) -> bytes | None:
        """The asset's bytes, or ``None`` if the jobs service says 404."""
        try:
            response = self._http.get(f"/api/assets/{asset_id}", headers={OWNER_HEADER: owner})
        except httpx.HTTPError as exc:
            raise ProblemError(503, f"the jobs service holding the assets is unreachable: {exc}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ProblemError(502, f"the jobs service answered {response.status_code} for asset {asset_id}")
        return response.content

    def close(self) -> None:
        """Close its connections."""
        self._http.close()


class DirectoryAssetSource:
    """Reads assets straight from a mounted copy of the jobs service's blob store (the layout of
    :func:`data_key` / :func:`owner_key` under ``root``): the Modal generation worker mounts the
    jobs' blob Volume, so a spawned run reads its owner's assets without a web round trip.

    ``refresh`` (a Modal ``Volume.reload``) is called once when a file is not there yet, since an
    upload committed by the jobs container after this one mounted is seen only after a reload."""

    def __init__(self, root: Path | str, *, refresh: Callable[[], object] | None = None) -> None:
        self.root = Path(root)
        self._refresh = refresh

    def _find(self, asset_id: str, owner: str) -> bytes | None:
        if not (self.root / owner_key(asset_id, owner)).is_file():
            return None
        try:
            return (self.root / data_key(asset_id)).read_bytes()
        except FileNotFoundError:
            return None

    def read(self, asset_id: str, owner: str) -> bytes | None:
        """The asset's bytes if ``owner`` holds it (after one refresh if needed), else ``None``."""
        found = self._find(asset_id, owner)
        if found is None and self._refresh is not None:
            self._refresh()
            found = self._find(asset_id, owner)
        return found


_OWNER_BYTES = OWNER_HEADER.lower().encode()


class AssetContextMiddleware:
    """Sets the request's owner (from ``X-Retouch-Owner``, which only the gateway and the jobs
    service send) and the service's :class:`AssetSource` for :func:`resolve`."""

    def __init__(self, app: ASGIApp, source: AssetSource | None) -> None:
        self.app = app
        self.source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set this call's owner and asset source, then pass it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        owner = ANONYMOUS
        for key, value in scope["headers"]:
            if key == _OWNER_BYTES:
                owner = value.decode("latin-1")
                break
        owner_token = _owner.set(owner)
        source_token = _source.set(self.source)
        try:
            await self.app(scope, receive, send)
        finally:
            _source.reset(source_token)
            _owner.reset(owner_token)
