"""``GET /api/system/health``: every service's health, checked concurrently, cached briefly.

Many callers (every open editor polls it) share one round of checks: while a round runs, later
callers wait for it instead of starting another, and its answer is reused for ``health_cache_ttl_s``
seconds. A scale-to-zero service the gateway has not used lately is reported ``idle`` without a
probe, because on Modal the probe itself would start a GPU container.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import msgspec

from retouch.gateway.settings import GatewaySettings
from retouch.gateway.upstream import Upstream, Upstreams
from retouch.sdk import codec
from retouch.sdk.errors import APIConnectionError, APITimeoutError
from retouch.sdk.models.common import Health, Problem, ServiceStatus, SystemHealth

__all__ = ["HealthMonitor", "overall_status"]

_USABLE = frozenset({"healthy", "idle"})
SystemState = Literal["healthy", "degraded", "unhealthy"]


def overall_status(services: dict[str, ServiceStatus]) -> SystemState:
    """``healthy`` when every service is healthy or idle, ``unhealthy`` when none that is awake
    can serve, else ``degraded`` (a service down, loading or degraded)."""
    states = [status.status for status in services.values()]
    if all(state in _USABLE for state in states):
        return "healthy"
    awake = [state for state in states if state != "idle"]
    if awake and all(state == "unhealthy" for state in awake):
        return "unhealthy"
    return "degraded"


class HealthMonitor:
    """Checks the services' ``/api/health`` for the system health route."""

    def __init__(self, upstreams: Upstreams, settings: GatewaySettings, version: str) -> None:
        self.upstreams = upstreams
        self.version = version
        self.timeout_s = settings.health_timeout_s
        self.ttl_s = settings.health_cache_ttl_s
        self.idle_after_s = settings.idle_after_s
        self._cached: bytes | None = None
        self._cached_at = 0.0
        self._round: asyncio.Task[bytes] | None = None

    async def report(self) -> bytes:
        """The system health document, encoded as JSON (fresh, cached, or shared with a running round)."""
        if self._cached is not None and time.monotonic() - self._cached_at < self.ttl_s:
            return self._cached
        if self._round is None:
            self._round = asyncio.ensure_future(self._check_all())
            self._round.add_done_callback(self._round_done)
        # shield: a caller that gives up must not cancel the round the others are waiting for.
        return await asyncio.shield(self._round)

    def _round_done(self, task: asyncio.Task[bytes]) -> None:
        self._round = None
        if not task.cancelled() and task.exception() is None:
            self._cached = task.result()
            self._cached_at = time.monotonic()

    async def _check_all(self) -> bytes:
        upstreams = list(self.upstreams)
        results = await asyncio.gather(*(self._check(upstream) for upstream in upstreams))
        services = {upstream.name: result for upstream, result in zip(upstreams, results, strict=True)}
        status = overall_status(services)
        document = SystemHealth(status=status, services=services, version=self.version)
        return codec.encode(document)

    async def _check(self, upstream: Upstream) -> ServiceStatus:
        if upstream.probe_client is None:
            return ServiceStatus(status="unhealthy", error=f"not configured ({upstream.url_var} is unset)")
        if upstream.idle(self.idle_after_s):
            return ServiceStatus(status="idle")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await upstream.probe_client.request_raw("GET", "/api/health", stream=False)
        except (TimeoutError, APITimeoutError):
            return ServiceStatus(status="unhealthy", error=f"no answer within {self.timeout_s:g} s")
        except APIConnectionError as exc:
            return ServiceStatus(status="unhealthy", error=f"unreachable at {upstream.url}: {exc.__cause__ or exc}")
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        try:
            health = codec.decode(response.content, Health)
        except (msgspec.ValidationError, msgspec.DecodeError):
            failure = _describe_failure(response.status_code, response.content)
            return ServiceStatus(status="unhealthy", latency_ms=latency_ms, error=failure)
        status = health.status
        if response.status_code >= 400 and status == "healthy":
            status = "unhealthy"
        error = None if status == "healthy" else (health.detail or f"reports {status} (HTTP {response.status_code})")
        return ServiceStatus(
            status=status,
            latency_ms=latency_ms,
            version=health.version,
            engine=health.engine,
            error=error,
            engines=health.engines,
        )


def _describe_failure(status_code: int, body: bytes) -> str:
    try:
        detail = codec.decode(body, Problem).detail
    except (msgspec.ValidationError, msgspec.DecodeError):
        detail = body[:200].decode("utf-8", "replace").strip()
    return f"health check answered HTTP {status_code}" + (f": {detail}" if detail else "")
