"""``create_app``: the jobs service (``job_manager``) as a Starlette app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from retouch.jobs.__about__ import __version__
from retouch.jobs.assets import BlobAssetSource
from retouch.jobs.blobs import BlobStore, LocalBlobStore
from retouch.jobs.dispatch import Dispatcher
from retouch.jobs.dispatch_http import HttpDispatcher
from retouch.jobs.expiry import expiry_loop
from retouch.jobs.metrics import queue_gauges, webhook_outcome
from retouch.jobs.routes import routes
from retouch.jobs.routes_assets import asset_routes
from retouch.jobs.service import JobService
from retouch.jobs.settings import JobsSettings
from retouch.jobs.storage import storage_loop
from retouch.jobs.store import JobStore
from retouch.jobs.store_sqlite import SqliteJobStore
from retouch.jobs.watchdog import watchdog_loop
from retouch.jobs.webhooks import SqliteWebhookOutbox, WebhookOutbox, WebhookSender
from retouch.runtime.app import create_service_app
from retouch.runtime.metrics import add_gauge_source, remove_gauge_source
from retouch.runtime.settings import load_settings
from retouch.runtime.tracing import ContextHeadersTransport
from retouch.sdk.models.common import Health

__all__ = ["SERVICE_NAME", "create_app"]

SERVICE_NAME = "job_manager"


def _local_seams(settings: JobsSettings) -> tuple[JobStore, BlobStore, Dispatcher]:
    store = SqliteJobStore(settings.jobs_dir / "jobs.sqlite3")
    blobs = LocalBlobStore(settings.jobs_dir / "blobs")
    dispatcher = HttpDispatcher(
        settings.generation_service_url,
        service_token=settings.service_token,
        idle_timeout_s=settings.watchdog_s + 5.0,
        # A run carries the request id and trace context of the submit that made it.
        transport=ContextHeadersTransport(),
    )
    return store, blobs, dispatcher


def _modal_seams(settings: JobsSettings) -> tuple[JobStore, BlobStore, Dispatcher]:
    from retouch.jobs.modal import ModalDictJobStore, ModalSpawnDispatcher, ModalVolumeBlobStore

    return (
        ModalDictJobStore.from_name(settings.modal_store_dict),
        ModalVolumeBlobStore.from_name(settings.modal_blob_volume),
        ModalSpawnDispatcher.from_name(),
    )


def _outbox(settings: JobsSettings) -> WebhookOutbox:
    if settings.backend == "modal":
        from retouch.jobs.webhooks_modal import ModalDictWebhookOutbox

        return ModalDictWebhookOutbox.from_name(settings.modal_webhook_dict)
    return SqliteWebhookOutbox(settings.jobs_dir / "jobs.sqlite3")


def create_app(
    settings: JobsSettings | None = None,
    *,
    store: JobStore | None = None,
    blobs: BlobStore | None = None,
    dispatcher: Dispatcher | None = None,
    webhook_outbox: WebhookOutbox | None = None,
) -> Starlette:
    """The jobs service. ``settings`` default to the environment; the seams default to the
    ``backend`` setting's (``local``: SQLite, a blob directory, HTTP to the generation service;
    ``modal``: modal.Dict, a Volume, spawn of the generation worker). Tests pass their own."""
    settings = settings or load_settings(JobsSettings)
    if store is None or blobs is None or dispatcher is None:
        defaults = _modal_seams(settings) if settings.backend == "modal" else _local_seams(settings)
        store, blobs, dispatcher = store or defaults[0], blobs or defaults[1], dispatcher or defaults[2]
    # Pending deliveries must outlive the process: next to the jobs (their SQLite database), or
    # in a modal.Dict on Modal, where the container's disk does not survive it.
    if webhook_outbox is None:
        webhook_outbox = _outbox(settings)
    webhooks = WebhookSender(settings, webhook_outbox, on_outcome=webhook_outcome)
    service = JobService(settings, store, blobs, dispatcher, webhooks=webhooks)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        service.spawn(watchdog_loop(service))
        service.spawn(expiry_loop(service))
        if service.storage is not None:
            service.spawn(storage_loop(service.storage))
        gauges = add_gauge_source(lambda: queue_gauges(service.queue))
        try:
            yield
        finally:
            remove_gauge_source(gauges)
            await service.stop()

    def health() -> Health:
        detail = f"{service.queue.running_count()} running, {service.queue.waiting_count()} queued"
        storage = service.storage.cached() if service.storage is not None else None
        away = service.away()
        if storage is not None:
            # It cannot store what it would accept: not healthy (API.md), and submissions get 507/503.
            return Health(
                service=SERVICE_NAME,
                version=__version__,
                engine=settings.backend,
                status="unhealthy",
                ready=False,
                detail=f"{storage.detail}; {detail}",
            )
        return Health(
            service=SERVICE_NAME,
            version=__version__,
            engine=settings.backend,
            # Jobs are accepted and wait while generation is away; the system is degraded meanwhile.
            status="degraded" if away else "healthy",
            detail="; ".join([*away.values(), detail]),
        )

    app = create_service_app(
        name=SERVICE_NAME,
        version=__version__,
        settings=settings,
        routes=[*routes(service), *asset_routes(service.assets, settings.max_asset_bytes)],
        health=health,
        lifespan=lifespan,
        # The jobs service holds the assets: references in its requests are read from its store.
        assets=BlobAssetSource(service.assets),
    )
    app.state.jobs = service
    return app
