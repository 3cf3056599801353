"""``Dispatcher`` over HTTP: the generation service's NDJSON run stream, through the SDK client."""

from __future__ import annotations

import contextlib
import logging

import httpx
import msgspec

from retouch.jobs.dispatch import DispatchError, EventHandler, Retry
from retouch.runtime.middleware import SERVICE_TOKEN_HEADER
from retouch.sdk import AsyncClient
from retouch.sdk.errors import APIError, APIStatusError, NotFoundError
from retouch.sdk.models.generation import ErrorEvent, ResultEvent, RunRequest

__all__ = ["HttpDispatcher"]

log = logging.getLogger("retouch.jobs")


class HttpDispatcher:
    """Runs jobs on the generation service at ``base_url``.

    ``idle_timeout_s`` bounds the wait for the next event of a run (the watchdog usually fires first);
    the run as a whole has no time limit.
    """

    def __init__(
        self,
        base_url: str,
        *,
        service_token: str | None = None,
        idle_timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {SERVICE_TOKEN_HEADER: service_token} if service_token else {}
        # api_key="" keeps the SDK from picking up a RETOUCH_API_KEY meant for the public gateway.
        self._client = AsyncClient(base_url, api_key="", headers=headers, transport=transport, max_retries=1)
        self._run_timeout = httpx.Timeout(connect=10.0, read=idle_timeout_s, write=60.0, pool=10.0)

    async def run(self, request: RunRequest, on_event: EventHandler) -> None:
        """Stream ``request`` through ``POST /api/generation/run``; see :class:`Dispatcher`."""
        heard = False
        try:
            async with contextlib.aclosing(
                self._client.generation.stream(request, timeout=self._run_timeout)
            ) as events:
                async for event in events:
                    heard = True
                    await on_event(event)
                    if isinstance(event, ResultEvent | ErrorEvent):
                        return
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise DispatchError(f"the generation service sent an unreadable event: {exc}") from exc
        except APIStatusError as exc:
            # 503: the service is up but cannot take runs now (loading, shutting down): wait.
            retry: Retry | None = "away" if exc.status_code == 503 else None
            raise DispatchError(
                f"the generation service refused the run ({exc.status_code}): {exc.detail}",
                exc.status_code,
                retry=retry,
            ) from exc
        except (APIError, httpx.HTTPError) as exc:
            if not heard and isinstance(exc.__cause__ or exc, httpx.ConnectError):
                # No connection: the request was never sent, so the run never started.
                raise DispatchError(f"the generation service is unreachable: {exc}", 503, retry="away") from exc
            raise DispatchError(f"generation worker lost: {exc or type(exc).__name__}", retry="lost") from exc
        raise DispatchError("generation worker lost: its event stream ended without a result", retry="lost")

    async def probe(self) -> bool:
        """Whether the generation service answers its health check (ready, or loading its model:
        a run sent now waits for the model there)."""
        try:
            health = await self._client.health(timeout=5.0)
        except (APIError, httpx.HTTPError):
            return False
        return health.status in ("healthy", "degraded", "loading")

    async def engines(self) -> list[str] | None:
        """The engine names the generation service serves (from its health check); ``None`` when
        it cannot be asked now."""
        try:
            health = await self._client.health(timeout=5.0)
        except (APIError, httpx.HTTPError):
            return None
        return health.engines

    async def cancel(self, run_id: str) -> None:
        """``POST /api/generation/cancel/{run_id}``; an unknown run is fine."""
        try:
            await self._client.generation.cancel(run_id, timeout=10.0)
        except NotFoundError:
            pass
        except (APIError, httpx.HTTPError) as exc:
            log.warning("could not cancel run %s: %s", run_id, exc)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
