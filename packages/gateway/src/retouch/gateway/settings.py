"""The gateway's configuration: where the services are, who may call, and how hard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from retouch.runtime.settings import ServiceSettings, SettingsError, env_name, env_names

__all__ = ["SERVICES", "GatewaySettings"]

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

#: The services behind the gateway, in the order they are reported.
SERVICES: tuple[str, ...] = ("generation", "segmentation", "image_utils", "job_manager")


class GatewaySettings(ServiceSettings, kw_only=True):
    """Settings of the gateway (``RETOUCH_*`` plus the seed's ``*_SERVICE_URL`` variables)."""

    __env__: ClassVar[dict[str, str]] = {
        "generation_url": "GENERATION_SERVICE_URL",
        "segmentation_url": "SEGMENTATION_SERVICE_URL",
        "image_utils_url": "IMAGE_UTILS_SERVICE_URL",
        "job_manager_url": "JOB_MANAGER_SERVICE_URL",
        # Durations are ``*_s`` fields; their variables keep the names they were documented with.
        **env_names(
            "RETOUCH_",
            (
                "connect_timeout_s",
                "read_timeout_s",
                "body_timeout_s",
                "stream_idle_timeout_s",
                "health_timeout_s",
                "health_cache_ttl_s",
            ),
            seconds="",
        ),
    }

    #: Base URL of each service; unset: the service is not configured and its routes answer 503.
    generation_url: str | None = None
    segmentation_url: str | None = None
    image_utils_url: str | None = None
    job_manager_url: str | None = None
    #: Accepted API keys (comma-separated); empty: no authentication.
    api_keys: list[str] = []
    #: Origins allowed by CORS (comma-separated, ``*`` for any); empty: no CORS headers.
    allowed_origins: list[str] = []
    #: Origins whose pages may call without a key (comma-separated; ``*`` for any): such calls are
    #: owned per client address and origin, rate limited and quota-bounded per address (see
    #: ``retouch.gateway.anonymous``). These origins are allowed by CORS too. Empty: none.
    anonymous_origins: list[str] = []
    #: Sustained requests per minute and burst per client address of anonymous callers (0: no limit).
    anonymous_rate_limit_per_minute: int = 120
    anonymous_rate_limit_burst: int = 60
    #: Generation jobs an anonymous client address may submit in any hour (0: no quota).
    anonymous_jobs_per_hour: int = 60
    #: Sustained requests per minute per API key (0: no limit); applies only when keys are set.
    rate_limit_per_minute: int = 1200
    #: Requests a key may make at once above the sustained rate.
    rate_limit_burst: int = 200
    #: Seconds to open a connection to a service.
    connect_timeout_s: float = 5.0
    #: Seconds a service may take to answer (``POST /api/generate`` waits up to 150 s); an event
    #: stream's events are bounded by ``stream_idle_timeout_s`` instead.
    read_timeout_s: float = 180.0
    #: Extra headers sent on every call to a service (``Name=value,...``), e.g. Modal's proxy auth
    #: ``Modal-Key=...,Modal-Secret=...``.
    upstream_headers: dict[str, str] = {}
    #: Retries when no connection to a service can be opened (the request was not sent yet).
    upstream_retries: int = 1
    #: Most connections open to one service at once (further calls wait up to ``read_timeout_s`` for one).
    upstream_max_connections: int = 256
    #: Requests in progress per client address (0: no cap); further ones get 429.
    max_requests_per_client: int = 64
    #: Event streams open per client address (0: no cap), counted within ``max_requests_per_client``.
    max_streams_per_client: int = 16
    #: Failed API-key attempts per client address: ``failed_key_burst`` at once, refilled at
    #: ``failed_key_per_minute`` (0: no limit); past that the address gets 429 for a while.
    failed_key_per_minute: int = 30
    failed_key_burst: int = 10
    #: A request body must arrive at no less than ``body_min_rate`` bytes/s after a grace of
    #: ``body_timeout_s`` seconds; it is read whole before a service connection is taken, so a slow
    #: sender never holds one.
    body_timeout_s: float = 30.0
    body_min_rate: int = 64 * 1024
    #: An event stream ends when its service sent nothing (not even a heartbeat) for this long, or
    #: when the client has not taken an event for this long.
    stream_idle_timeout_s: float = 120.0
    #: Seconds each service's ``/api/health`` may take inside ``/api/system/health``.
    health_timeout_s: float = 2.0
    #: Seconds a ``/api/system/health`` answer is reused.
    health_cache_ttl_s: float = 2.0
    #: Directory of the web editor's static files, served at ``/`` (``index.html``) when present.
    web_dir: Path | None = None
    #: Services that scale to zero: reported ``idle`` (not probed) when not used for ``idle_after_s``.
    scale_to_zero: list[str] = []
    idle_after_s: float = 300.0

    def __post_init__(self) -> None:
        super().__post_init__()
        cls = type(self)
        self.require(
            positive=(
                "connect_timeout_s",
                "read_timeout_s",
                "health_timeout_s",
                "upstream_max_connections",
                "body_timeout_s",
                "body_min_rate",
                "stream_idle_timeout_s",
            ),
            non_negative=(
                "rate_limit_per_minute",
                "upstream_retries",
                "health_cache_ttl_s",
                "idle_after_s",
                "max_requests_per_client",
                "max_streams_per_client",
                "failed_key_per_minute",
                "anonymous_rate_limit_per_minute",
                "anonymous_jobs_per_hour",
            ),
        )
        if self.rate_limit_per_minute and self.rate_limit_burst < 1:
            raise SettingsError(f"{env_name(cls, 'rate_limit_burst')} must be at least 1, got {self.rate_limit_burst}")
        if self.anonymous_rate_limit_per_minute and self.anonymous_rate_limit_burst < 1:
            raise SettingsError(
                f"{env_name(cls, 'anonymous_rate_limit_burst')} must be at least 1, got {self.anonymous_rate_limit_burst}"
            )
        for origin in self.anonymous_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+/?", origin):
                raise SettingsError(
                    f"{env_name(cls, 'anonymous_origins')}: {origin!r} is not an origin (scheme://host[:port])"
                )
        unknown = sorted(set(self.scale_to_zero) - set(SERVICES))
        if unknown:
            raise SettingsError(
                f"{env_name(cls, 'scale_to_zero')} names unknown services {unknown}; known: {', '.join(SERVICES)}"
            )
        for name, value in self.upstream_headers.items():
            if not _HEADER_NAME.fullmatch(name) or any(char in value for char in "\r\n\0"):
                raise SettingsError(f"{env_name(cls, 'upstream_headers')}: {name!r} is not a valid header")
        for service in SERVICES:
            url = self.service_url(service)
            if url is not None and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{env_name(cls, f'{service}_url')}={url!r} must be an http:// or https:// URL")

    def service_url(self, service: str) -> str | None:
        """The configured base URL of ``service`` (``None``: not configured)."""
        url: str | None = getattr(self, f"{service}_url")
        if not url or not url.strip():
            return None
        return url.strip().rstrip("/")

    def service_url_var(self, service: str) -> str:
        """The environment variable that configures ``service``'s URL."""
        return env_name(type(self), f"{service}_url")
