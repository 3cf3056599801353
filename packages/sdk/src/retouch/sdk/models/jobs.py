"""The jobs contract: async generation jobs at ``/api/generate*`` (API.md).

A job is submitted with a :class:`~retouch.sdk.models.generation.GenerationRequest` and answers
:class:`JobSubmitted`; :class:`JobStatus` is its state at any time, :class:`JobEvent` one change
of it on the event stream, and :class:`JobResult` the finished image.

Status moves only forward: ``queued -> processing -> done | error | cancelled`` (the seed system's
words); the last three are terminal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.common import RouteInfo
from retouch.sdk.models.generation import GenerationRequest
from retouch.sdk.models.webhooks import WebhookDelivery

__all__ = [
    "IDEMPOTENCY_HEADER",
    "OWNER_HEADER",
    "ROUTES",
    "TERMINAL_STATUSES",
    "JobEvent",
    "JobEventType",
    "JobPage",
    "JobResult",
    "JobStatus",
    "JobStatusValue",
    "JobSubmitted",
]

#: A job's status; it only moves forward (see the module docstring).
JobStatusValue = Literal["queued", "processing", "done", "error", "cancelled"]
#: ``queued`` (submitted, or its queue position changed), ``processing`` (started), ``progress`` (a
#: new stage or step), then exactly one terminal type: ``done``, ``error`` or ``cancelled``.
JobEventType = Literal["queued", "processing", "progress", "done", "error", "cancelled"]

#: Statuses a job never leaves.
TERMINAL_STATUSES: Final = frozenset({"done", "error", "cancelled"})

#: Header that makes a submit safe to retry: the same key (for the same caller) returns the same job.
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
#: Header the gateway sets to the caller's identity (internal: only service-token holders reach the
#: jobs service); jobs are visible only to the owner that made them.
OWNER_HEADER: Final = "X-Retouch-Owner"


class JobSubmitted(msgspec.Struct, kw_only=True):
    """``POST /api/generate/async`` (202): the job's id and its status now."""

    task_id: str
    status: JobStatusValue


class JobStatus(msgspec.Struct, kw_only=True):
    """``GET /api/generate/status/{task_id}``: where a job stands."""

    task_id: str
    status: JobStatusValue
    #: While processing: ``loading_model``, ``preprocessing``, ``denoising`` or ``postprocessing``.
    stage: str | None = None
    #: 0..1 over the whole run.
    progress: float = 0.0
    current_step: int | None = None
    total_steps: int | None = None
    #: While the model loads (stage ``loading_model``): a sentence saying so, to show as it is.
    loading_message: str | None = None
    #: While queued: 1 means next to start on its generation engine; ``None`` otherwise.
    queue_position: int | None = None
    #: Why the job failed (or was cancelled).
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: The POSTs to the job's ``webhook`` and how each went (status and list answers; ``None`` in
    #: events, and for jobs without a webhook).
    webhook_deliveries: list[WebhookDelivery] | None = None

    @property
    def done(self) -> bool:
        """Whether the job reached a terminal status (it will not change again): ``done``, ``error``
        or ``cancelled``; ``status == "done"`` is the one with a result."""
        return self.status in TERMINAL_STATUSES


class JobEvent(JobStatus, kw_only=True):
    """One ``data:`` payload of ``GET /api/generate/stream/{task_id}``: the kind of change, and the
    job's full status after it (never the image). ``id`` equals the SSE ``id:`` of the event."""

    type: JobEventType
    id: str | None = None


class JobPage(msgspec.Struct, kw_only=True):
    """``GET /api/generate``: one page of the caller's jobs, newest first."""

    jobs: list[JobStatus]
    #: Pass as ``?cursor=`` for the next (older) page; ``None`` on the last page.
    next_cursor: str | None = None


class JobResult(msgspec.Struct, kw_only=True):
    """``GET /api/generate/result/{task_id}`` (and the synchronous ``POST /api/generate``).

    A job that ended ``cancelled`` answers too (200, ``status: "cancelled"``, an empty ``image``,
    width and height 0), so a client that fetches the result after its cancel sees a
    cancellation, not an error; a job that ended ``error`` answers 409 with the reason."""

    task_id: str
    status: JobStatusValue
    #: The edited picture, PNG, the input's size.
    image: Base64Bytes
    width: int
    height: int
    seed: int | None = None
    timings: dict[str, float] = {}
    engine: str | None = None
    #: The result is an asset too: its id (``"asset:" + image_asset`` in any image field runs the
    #: next edit on it without sending it back).
    image_asset: str | None = None
    #: Seconds the edit took.
    generation_time: float | None = None
    #: The engine that made the picture (the seed system's name for ``engine``).
    model_used: str | None = None
    #: What the run used: task, engine, steps, guidance, seed, quality flags (a flag that was asked
    #: for but could not be applied reads ``false``, and ``notes`` says why).
    parameters_used: dict[str, Any] = {}
    #: How the request was honoured, in words.
    notes: list[str] = []
    #: Timings and notes of the run, when the request asked for ``enable_debug``.
    debug_info: dict[str, Any] | None = None


_SVC = "job_manager"

#: The jobs service's public routes.
ROUTES: tuple[RouteInfo, ...] = (
    RouteInfo(
        "POST",
        "/api/generate/async",
        _SVC,
        "Submit an edit as a job (Idempotency-Key header makes retries return the same job)",
        request=GenerationRequest,
        response=JobSubmitted,
        success_status=202,
    ),
    RouteInfo("GET", "/api/generate/status/{task_id}", _SVC, "Where a job stands", response=JobStatus),
    RouteInfo(
        "GET",
        "/api/generate/stream/{task_id}",
        _SVC,
        "Server-sent events of a job: one per change, ids for Last-Event-ID resume, one terminal event",
        response=JobEvent,
        response_media_type="text/event-stream",
    ),
    RouteInfo(
        "GET", "/api/generate/result/{task_id}", _SVC, "The finished image (409 while not finished)", response=JobResult
    ),
    RouteInfo(
        "GET",
        "/api/generate/result-image/{task_id}",
        _SVC,
        "The finished image as bytes (?format=png|webp|jpeg)",
        response_media_type="image/png",
    ),
    RouteInfo(
        "POST",
        "/api/generate/async/cancel/{task_id}",
        _SVC,
        "Cancel a queued or running job (409 once finished)",
        response=JobStatus,
    ),
    RouteInfo(
        "GET",
        "/api/generate",
        _SVC,
        "The caller's jobs, newest first, a page at a time (?status=&limit=&cursor=)",
        response=JobPage,
        query=(
            ("status", "only jobs with this status (queued, processing, done, error, cancelled)"),
            ("limit", "jobs per page, 1-100 (default 20)"),
            ("cursor", "next_cursor of the previous page"),
        ),
    ),
    RouteInfo(
        "DELETE",
        "/api/generate/{task_id}",
        _SVC,
        "Cancel the job if needed, then delete it, its inputs, result and events now",
        success_status=204,
    ),
    RouteInfo(
        "POST",
        "/api/generate",
        _SVC,
        "Submit and wait (bounded): the result, or 202 with the task id while it still runs",
        request=GenerationRequest,
        response=JobResult,
    ),
)
