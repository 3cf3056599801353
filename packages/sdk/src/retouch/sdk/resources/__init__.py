"""Client resources: one module per service, each with a sync and an async class."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retouch.sdk._client import AsyncClient, Client

__all__ = ["AsyncResource", "SyncResource"]


class SyncResource:
    """A group of calls bound to a :class:`~retouch.sdk.Client`."""

    def __init__(self, client: Client) -> None:
        self._client = client


class AsyncResource:
    """A group of calls bound to an :class:`~retouch.sdk.AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
