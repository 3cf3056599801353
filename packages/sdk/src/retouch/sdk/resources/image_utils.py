"""``client.image_utils``: the image-utils operations (filled in by the image-utils work)."""

from __future__ import annotations

from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = ["AsyncImageUtils", "ImageUtils"]


class ImageUtils(SyncResource):
    """Image and mask operations (``/api/image-utils/*``)."""


class AsyncImageUtils(AsyncResource):
    """Async twin of :class:`ImageUtils`."""
