"""The jobs service's settings (``RETOUCH_JOBS_*``, plus the seed's ``GENERATION_SERVICE_URL``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from retouch.jobs.webhook_settings import WEBHOOK_FIELDS, check_webhook_settings
from retouch.runtime.settings import ServiceSettings, SettingsError, env_name, env_names

__all__ = ["MODAL_PLATFORM_LIMIT_S", "JobsSettings"]

#: Modal ends any web request after 150 s; the synchronous ``POST /api/generate`` stays below it.
MODAL_PLATFORM_LIMIT_S = 150.0

_OWN_FIELDS = (
    "backend",
    "max_running",
    "engine_limits",
    "engines",
    "max_queued",
    "watchdog_s",
    "ttl_s",
    "expiry_interval_s",
    "sync_wait_s",
    "heartbeat_s",
    "cancel_wait_s",
    "cancel_linger_s",
    "max_attempts",
    "engine_retry_s",
    "engine_retry_max_s",
    "min_free_bytes",
    "event_history",
    "modal_store_dict",
    "modal_blob_volume",
    *WEBHOOK_FIELDS,
)


class JobsSettings(ServiceSettings, kw_only=True):
    """How the jobs service stores, dispatches, watches and expires jobs."""

    __env__: ClassVar[dict[str, str]] = {
        "generation_service_url": "GENERATION_SERVICE_URL",
        # Durations are ``*_s`` fields; their documented variables keep the ``_SECONDS`` ending.
        **env_names("RETOUCH_JOBS_", _OWN_FIELDS, seconds="_SECONDS"),
    }

    #: Where the generation service listens (local dispatch).
    generation_service_url: str = "http://127.0.0.1:8003"
    #: ``local``: SQLite + HTTP dispatch + a blob directory; ``modal``: modal.Dict + spawn + Volume.
    backend: Literal["local", "modal"] = "local"
    #: Jobs running at once per generation engine, unless ``engine_limits`` says otherwise.
    max_running: int = 1
    #: Per-engine override of ``max_running``: ``qwen=1,classic=4``.
    engine_limits: dict[str, int] = {}
    #: Engines a request may name in ``engine``; empty accepts any (the generation service decides).
    engines: list[str] = []
    #: Queued jobs accepted before submissions are refused with 429.
    max_queued: int = 10_000
    #: A running job whose worker sent nothing for this long fails as lost.
    watchdog_s: float = 120.0
    #: Finished jobs and their results are deleted this long after they finished.
    ttl_s: float = 24 * 3600.0
    expiry_interval_s: float = 300.0
    #: How long the synchronous ``POST /api/generate`` waits before answering 202.
    sync_wait_s: float = 110.0
    #: Idle time between ``:`` heartbeat comments on an event stream.
    heartbeat_s: float = 15.0
    #: How long a cancel waits for a running engine to stop before the job is cancelled anyway.
    cancel_wait_s: float = 10.0
    #: A live event stream stays open this long after its ``cancelled`` event (then ends), so a
    #: client that awaits its cancel's answer before it stops reading (the seed web client) sees
    #: the answer first and shows a cancellation; 0 ends the stream at once.
    cancel_linger_s: float = 3.0
    #: Runs of a job interrupted by restarts before it fails instead of being re-queued.
    max_attempts: int = 3
    #: While the generation service is away, it is asked again after this many seconds, doubling
    #: up to ``engine_retry_max_s``; its jobs wait in their places meanwhile.
    engine_retry_s: float = 0.5
    engine_retry_max_s: float = 10.0
    #: Free space the data directory must keep; below it submissions are refused with 507.
    min_free_bytes: int = 64 * 1024 * 1024
    #: Events kept per job for ``Last-Event-ID`` resume (older ones are summarised by a snapshot).
    event_history: int = 512
    #: The ``modal.Dict`` holding the jobs (backend ``modal``).
    modal_store_dict: str = "retouch-jobs"
    #: The Volume holding requests and results (backend ``modal``).
    modal_blob_volume: str = "retouch-job-blobs"
    #: Standard Webhooks secrets (``whsec_<base64>``) per owner: ``<owner id>=whsec_...,...``; the
    #: owner id of an API key is the first 24 hex digits of its SHA-256 (``anonymous`` without keys).
    webhook_secrets: dict[str, str] = {}
    #: The secret of every owner not in ``webhook_secrets``; unset: only those owners may use webhooks.
    webhook_secret: str | None = None
    #: Deliver to loopback, private, link-local and reserved addresses too (a local test receiver);
    #: off, such a ``webhook`` is refused at submit and at delivery (after DNS resolution).
    webhook_allow_private: bool = False
    #: Attempts per delivery before it is given up, the first retry's delay (doubling after each
    #: failure, with jitter) and the longest delay.
    webhook_max_attempts: int = 8
    webhook_retry_base_s: float = 5.0
    webhook_retry_max_s: float = 3600.0
    #: Seconds one attempt may take, and attempts in flight at once.
    webhook_timeout_s: float = 10.0
    webhook_concurrency: int = 8
    #: The ``modal.Dict`` holding webhook deliveries (backend ``modal``).
    modal_webhook_dict: str = "retouch-webhooks"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_running", "max_queued", "max_attempts", "event_history"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(type(self), name)} must be at least 1, got {getattr(self, name)}")
        self.require(
            positive=(
                "watchdog_s",
                "ttl_s",
                "expiry_interval_s",
                "sync_wait_s",
                "heartbeat_s",
                "cancel_wait_s",
                "engine_retry_s",
                "engine_retry_max_s",
            )
        )
        if not 0 <= self.cancel_linger_s <= 60:
            raise SettingsError(
                f"{env_name(type(self), 'cancel_linger_s')} must be 0-60 s, got {self.cancel_linger_s:g}"
            )
        if self.sync_wait_s >= MODAL_PLATFORM_LIMIT_S:
            raise SettingsError(
                f"{env_name(type(self), 'sync_wait_s')} must stay below {MODAL_PLATFORM_LIMIT_S:g} s, got {self.sync_wait_s:g}"
            )
        check_webhook_settings(self)
        for engine, limit in self.engine_limits.items():
            if limit < 1:
                raise SettingsError(f"{env_name(type(self), 'engine_limits')}: {engine}={limit} must be at least 1")

    def limit_for(self, engine: str) -> int:
        """How many jobs may run at once on ``engine``."""
        return self.engine_limits.get(engine, self.max_running)

    @property
    def jobs_dir(self) -> Path:
        """Where the SQLite database and the result blobs live."""
        return Path(self.data_dir) / "jobs"
