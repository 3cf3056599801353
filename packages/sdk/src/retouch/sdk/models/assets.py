"""The assets contract: pictures uploaded once to ``/api/assets`` and referred to by id (API.md).

An asset id is the content hash of the picture's bytes (the same as smart-mask's ``image_id``), so
the same picture uploaded twice is one asset. Every image field of every request accepts
``"asset:<asset_id>"`` (:class:`~retouch.sdk._codec.AssetRef`). Assets belong to the caller that
uploaded them (another caller gets 404) and expire with the job TTL unless a job still uses them.
"""

from __future__ import annotations

from typing import Final

import msgspec

from retouch.sdk._codec import ASSET_PREFIX, AssetRef
from retouch.sdk.models.common import RouteInfo

__all__ = ["ASSET_FORM_FIELD", "ASSET_PREFIX", "ROUTES", "Asset", "AssetRef", "asset_ref"]

#: Multipart form field holding the picture in ``POST /api/assets``.
ASSET_FORM_FIELD: Final = "file"


class Asset(msgspec.Struct, kw_only=True):
    """``POST /api/assets`` (201): the stored picture's id and what its header says."""

    asset_id: str
    width: int
    height: int
    #: ``png``, ``jpeg``, ``webp``, ... (from the bytes, not from the declared content type).
    format: str
    #: Size of the stored bytes.
    bytes: int
    #: The content type ``GET /api/assets/{asset_id}`` answers with.
    content_type: str | None = None

    @property
    def ref(self) -> AssetRef:
        """``"asset:<asset_id>"``, for any image field of any request."""
        return AssetRef.of(self.asset_id)


def asset_ref(asset_id: str) -> AssetRef:
    """The image-field reference ``"asset:<asset_id>"``."""
    return AssetRef.of(asset_id)


_SVC = "job_manager"

#: The public asset routes.
ROUTES: tuple[RouteInfo, ...] = (
    RouteInfo(
        "POST",
        "/api/assets",
        _SVC,
        "Upload a picture once (raw image/* body or multipart 'file'); its id is its content hash",
        response=Asset,
        success_status=201,
    ),
    RouteInfo(
        "GET",
        "/api/assets/{asset_id}",
        _SVC,
        "The uploaded picture's bytes, with their content type",
        response_media_type="application/octet-stream",
    ),
    RouteInfo("DELETE", "/api/assets/{asset_id}", _SVC, "Delete an asset now", success_status=204),
)
