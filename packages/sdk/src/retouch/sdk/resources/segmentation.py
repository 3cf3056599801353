"""``client.segmentation``: smart masks (/api/smart-mask)."""

from __future__ import annotations

from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = ["AsyncSegmentation", "Segmentation"]


class Segmentation(SyncResource):
    """Calls for smart masks (/api/smart-mask)."""


class AsyncSegmentation(AsyncResource):
    """Async twin of :class:`Segmentation`."""
