"""The job manager on Modal: ``modal deploy deploy/jobs.py``.

Internal, at ``https://<workspace>--job-manager.modal.run``: CPU, always on, and exactly one
container (its run queue and the runs in flight live in memory), serving many requests at once
(event streams are long-lived). The Modal seams of ``retouch.jobs`` are selected with
``RETOUCH_JOBS_BACKEND=modal``: job records in the ``retouch-jobs`` modal.Dict, results in the
``retouch-job-blobs`` Volume (through its file API), and runs spawned on the generation app's
worker function, their events coming back on a modal.Queue. A scheduled function expires old
jobs and their results even while the service is being redeployed.
"""

from __future__ import annotations

import modal
from _common import (
    APP_NAMES,
    JOBS_BLOB_VOLUME,
    JOBS_STORE_DICT,
    LABELS,
    deploy_int,
    generation_max_containers,
    proxy_auth_enabled,
    service_token_secret,
)
from images import jobs_image

app = modal.App(APP_NAMES["job_manager"])
image = jobs_image()

#: The jobs service's configuration on Modal (the rest keeps the package's defaults).
JOBS_ENV: dict[str, str | None] = {
    "RETOUCH_JOBS_BACKEND": "modal",
    "RETOUCH_JOBS_MODAL_STORE_DICT": JOBS_STORE_DICT,
    "RETOUCH_JOBS_MODAL_BLOB_VOLUME": JOBS_BLOB_VOLUME,
    # Never more runs in flight than generation containers may exist: the rest wait in the job
    # queue, with a true queue position, instead of in Modal's input queue.
    "RETOUCH_JOBS_MAX_RUNNING": str(generation_max_containers()),
    # A run's first event can come only after a GPU container started (scaled from zero); the
    # package default (120 s) would call a cold start a lost worker. A container lost mid-run is
    # reported at once by the generation worker anyway.
    "RETOUCH_JOBS_WATCHDOG_SECONDS": str(deploy_int("RETOUCH_JOBS_WATCHDOG_S", 600, minimum=30)),
}


@app.function(
    image=image,
    cpu=1.0,
    memory=1024,
    min_containers=1,
    max_containers=1,
    scaledown_window=300,
    # Event streams stay open for as long as a job runs.
    timeout=3600,
    secrets=[service_token_secret()],
    env=JOBS_ENV,
)
@modal.concurrent(max_inputs=1000, target_inputs=800)
@modal.asgi_app(label=LABELS["job_manager"], requires_proxy_auth=proxy_auth_enabled())
def serve() -> object:
    """The jobs Starlette app (its start-up recovers the jobs a previous container left)."""
    from retouch.jobs.app import create_app

    return create_app()


@app.function(
    image=image,
    schedule=modal.Period(minutes=deploy_int("RETOUCH_JOBS_EXPIRY_EVERY_MIN", 30, minimum=1)),
    timeout=600,
    secrets=[service_token_secret()],
    env=JOBS_ENV,
)
async def expire_jobs() -> int:
    """Delete finished jobs older than the TTL (``RETOUCH_JOBS_TTL_SECONDS``) and their results."""
    from retouch.jobs.modal import ModalDictJobStore, ModalSpawnDispatcher, ModalVolumeBlobStore
    from retouch.jobs.service import JobService
    from retouch.jobs.settings import JobsSettings
    from retouch.jobs.webhooks import WebhookSender
    from retouch.jobs.webhooks_modal import ModalDictWebhookOutbox
    from retouch.runtime.settings import load_settings

    settings = load_settings(JobsSettings)
    service = JobService(
        settings,
        ModalDictJobStore.from_name(settings.modal_store_dict),
        ModalVolumeBlobStore.from_name(settings.modal_blob_volume),
        # Never used by expiry; the service needs one.
        ModalSpawnDispatcher.from_name(),
        # Expired jobs take their webhook deliveries with them (nothing is sent from here).
        webhooks=WebhookSender(settings, ModalDictWebhookOutbox.from_name(settings.modal_webhook_dict)),
    )
    expired = await service.expire_once()
    print(f"expired {expired} finished jobs")
    return expired
