"""The services behind the gateway, built once per process: for each, a keep-alive connection
pool for proxied calls and an SDK client for health probes."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx

from retouch.gateway.pool import ConnectionPool
from retouch.gateway.settings import SERVICES, GatewaySettings
from retouch.runtime.middleware import SERVICE_TOKEN_HEADER
from retouch.sdk import AsyncClient

__all__ = ["Upstream", "Upstreams"]

# Below uvicorn's default keep-alive (5 s), so the gateway drops an idle connection before the
# service does and never writes a request into a socket the other side is closing.
_KEEPALIVE_EXPIRY_S = 4.0


class Upstream:
    """One service: where it is, the clients that reach it, and when the gateway last used it."""

    def __init__(
        self, name: str, url: str | None, url_var: str, settings: GatewaySettings, tls: ssl.SSLContext | bool = True
    ) -> None:
        self.name = name
        self.url = url
        self.url_var = url_var
        #: Whether the service scales to zero (a health probe would wake it).
        self.scales_to_zero = name in settings.scale_to_zero
        #: ``time.monotonic()`` of the last proxied request (``None``: never).
        self.last_used: float | None = None
        #: Proxied calls (the hot path).
        self.pool: ConnectionPool | None = None
        #: Health probes.
        self.probe_client: AsyncClient | None = None
        if url is None:
            return
        self.pool = ConnectionPool(
            url,
            max_connections=settings.upstream_max_connections,
            connect_timeout_s=settings.connect_timeout_s,
            keepalive_expiry_s=_KEEPALIVE_EXPIRY_S,
            tls=tls if isinstance(tls, ssl.SSLContext) else None,
            pool_timeout_s=settings.read_timeout_s,
        )
        headers = dict(settings.upstream_headers)
        if settings.service_token:
            headers[SERVICE_TOKEN_HEADER] = settings.service_token
        # Probes never retry: a slow or dead service must be reported within the health timeout.
        self.probe_client = AsyncClient(
            url,
            api_key="",
            timeout=settings.health_timeout_s,
            max_retries=0,
            headers=headers,
            transport=httpx.AsyncHTTPTransport(
                verify=tls, limits=httpx.Limits(max_connections=4, keepalive_expiry=_KEEPALIVE_EXPIRY_S)
            ),
        )

    def touch(self) -> None:
        """Record that a request is going to the service now (it is awake, or waking)."""
        self.last_used = time.monotonic()

    def idle(self, idle_after_s: float) -> bool:
        """Whether the service scales to zero and has not been used for ``idle_after_s`` seconds."""
        if not self.scales_to_zero:
            return False
        return self.last_used is None or time.monotonic() - self.last_used >= idle_after_s

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self.pool is not None:
            self.pool.close()
        if self.probe_client is not None:
            await self.probe_client.aclose()


class Upstreams:
    """Every service of :data:`~retouch.gateway.settings.SERVICES`, configured or not."""

    def __init__(self, settings: GatewaySettings) -> None:
        urls = {name: settings.service_url(name) for name in SERVICES}
        # One TLS context for every client (loading the CA bundle takes tens of milliseconds), and
        # none at all when every service is plain http (the local stack).
        tls: ssl.SSLContext | bool = False
        if any(url and url.startswith("https:") for url in urls.values()):
            tls = httpx.create_ssl_context()
        self._by_name = {
            name: Upstream(name, url, settings.service_url_var(name), settings, tls) for name, url in urls.items()
        }

    def __getitem__(self, name: str) -> Upstream:
        return self._by_name[name]

    def __iter__(self) -> Iterator[Upstream]:
        return iter(self._by_name.values())

    async def aclose(self) -> None:
        """Close every client."""
        for upstream in self:
            await upstream.aclose()
