"""``client.jobs``: async generation jobs (/api/generate*)."""

from __future__ import annotations

from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = ["AsyncJobs", "Jobs"]


class Jobs(SyncResource):
    """Calls for async generation jobs (/api/generate*)."""


class AsyncJobs(AsyncResource):
    """Async twin of :class:`Jobs`."""
