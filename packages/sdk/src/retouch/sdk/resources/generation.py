"""``client.generation``: direct calls to the generation service (/api/generation/*, internal)."""

from __future__ import annotations

from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = ["AsyncGeneration", "Generation"]


class Generation(SyncResource):
    """Calls for direct calls to the generation service (/api/generation/*, internal)."""


class AsyncGeneration(AsyncResource):
    """Async twin of :class:`Generation`."""
