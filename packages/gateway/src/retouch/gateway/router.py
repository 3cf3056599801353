"""Which service owns a path, and the ASGI layer that checks the caller and dispatches.

Proxied prefixes are matched here, before Starlette's router, so a proxied call costs a few string
comparisons and never builds a ``Request``. Routes the gateway answers itself (system health,
OpenAPI, the web editor) go on to the Starlette app, which gives 405 for a wrong method there;
any other ``/api/...`` path is a 404.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from retouch.gateway.anonymous import AnonymousAccess
from retouch.gateway.auth import ApiKeys
from retouch.gateway.fairness import FailedKeyLimiter, client_address
from retouch.gateway.problems import send_problem
from retouch.gateway.proxy import Proxy
from retouch.gateway.ratelimit import RateLimiter
from retouch.gateway.upstream import Upstream, Upstreams

__all__ = ["GATEWAY_PATHS", "PREFIXES", "GatewayRouter", "owning_service"]

#: Public path prefixes and the service that owns each (the internal paths equal the public ones).
#: A prefix matches itself and anything below it (``/api/generate`` and ``/api/generate/async``).
PREFIXES: tuple[tuple[str, str], ...] = (
    ("/api/image-utils", "image_utils"),
    ("/api/smart-mask", "segmentation"),
    ("/api/generate", "job_manager"),
    ("/api/assets", "job_manager"),
)
#: Paths the gateway answers itself.
GATEWAY_PATHS = frozenset({"/api/health", "/api/system/health", "/api/openapi.json", "/api/metrics"})
#: Paths open without an API key.
OPEN_PATHS = frozenset({"/api/health"})


def owning_service(path: str) -> str | None:
    """The service that owns ``path``, or ``None``."""
    for prefix, service in PREFIXES:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return service
    return None


def _has_dot_segment(path: str) -> bool:
    # The service would resolve ``/api/generate/../x`` to ``/api/x``, a path the gateway never
    # meant to expose (and would call with the service token).
    return "/." in path and any(part in (".", "..") for part in path.split("/"))


class GatewayRouter:
    """API-key check, per-key rate limit, and dispatch to the owning service or to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        upstreams: Upstreams,
        proxy: Proxy,
        keys: ApiKeys,
        limiter: RateLimiter,
        failed_keys: FailedKeyLimiter | None = None,
        anonymous: AnonymousAccess | None = None,
    ) -> None:
        self.app = app
        self.proxy = proxy
        self.keys = keys
        self.limiter = limiter if limiter.enabled and keys.enabled else None
        #: Failed key attempts per client address (only where keys are required).
        self.failed_keys = failed_keys if failed_keys is not None and failed_keys.enabled and keys.enabled else None
        self._upstreams: dict[str, Upstream] = {upstream.name: upstream for upstream in upstreams}
        #: Keyless callers from configured origins (``RETOUCH_ANONYMOUS_ORIGINS``).
        self.anonymous = anonymous if anonymous is not None and anonymous.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send one ASGI call on to the service that owns its path."""
        path: str = scope.get("path", "")
        # Static files of the web editor and the gateway's own health are open to everyone.
        if scope["type"] != "http" or not path.startswith("/api/") or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        blocked = self.failed_keys.blocked_for(client_address(scope)) if self.failed_keys is not None else 0
        if blocked:
            detail = f"too many failed API key attempts from this address; retry in {blocked} s"
            await send_problem(scope, receive, send, 429, detail, {"retry-after": str(blocked)})
            return
        if self.anonymous is not None:
            origin = self.anonymous.allows(scope)
            if origin is not None:
                address = client_address(scope)
                wait, why = self.anonymous.admit(scope, address)
                if wait:
                    await send_problem(scope, receive, send, 429, why, {"retry-after": str(wait)})
                    return
                await self._dispatch(scope, receive, send, path, self.anonymous.owner(address, origin))
                return
        owner = self.keys.owner(scope)
        if owner is None:
            if self.failed_keys is not None:
                self.failed_keys.failed(client_address(scope))
            await send_problem(
                scope,
                receive,
                send,
                401,
                "a valid API key is required (Authorization: Bearer <key>)",
                {"www-authenticate": 'Bearer realm="retouch"'},
            )
            return
        if self.limiter is not None:
            wait = self.limiter.acquire(owner)
            if wait:
                detail = f"rate limit exceeded for this API key; retry in {wait} s"
                await send_problem(scope, receive, send, 429, detail, {"retry-after": str(wait)})
                return
        await self._dispatch(scope, receive, send, path, owner)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, path: str, owner: bytes) -> None:
        service = owning_service(path)
        if service is not None and not _has_dot_segment(path):
            await self.proxy(scope, receive, send, self._upstreams[service], owner)
        elif path in GATEWAY_PATHS:
            await self.app(scope, receive, send)
        else:
            await send_problem(scope, receive, send, 404, f"no route {path}")
