"""The job record and its state machine.

``queued -> processing -> done | error | cancelled`` (the seed system's words). Terminal states are final: every
transition out of one raises :class:`TransitionError`, and the event handlers (which see what
engines send, possibly late) return ``False`` instead of moving a job backwards. The only way
back, ``processing -> queued``, is :func:`requeue`: at start-up for jobs a crash left processing,
and for a run whose worker could not be reached or was lost mid-way; the next start is a new
attempt with a new ``run_id``, so events of the old run never match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from retouch.sdk.models.generation import ProgressEvent
from retouch.sdk.models.jobs import TERMINAL_STATUSES, JobEvent, JobEventType, JobStatus, JobStatusValue

__all__ = [
    "LOADING_MESSAGE",
    "STAGE_ORDER",
    "WAITING_FOR_ENGINE",
    "Job",
    "ResultMeta",
    "TransitionError",
    "event_type_for",
    "is_terminal",
]

#: What ``loading_message`` says while the model loads, unless the engine says more.
LOADING_MESSAGE: Final = "Loading the model; the first edit after a start takes longer"

#: The stage a queued job shows while its generation engine is away (it runs once it is back).
WAITING_FOR_ENGINE: Final = "waiting_for_engine"

#: The order stages pass in; progress never goes back to an earlier stage.
STAGE_ORDER: Final = {"queued": 0, "loading_model": 1, "preprocessing": 2, "denoising": 3, "postprocessing": 4}


class TransitionError(Exception):
    """A transition the state machine does not allow (e.g. anything out of a terminal state)."""


class ResultMeta(msgspec.Struct, kw_only=True):
    """What a finished job produced, besides the image bytes (kept in the blob store)."""

    blob: str
    width: int
    height: int
    seed: int | None = None
    engine: str | None = None
    timings: dict[str, float] = {}
    #: Seconds the run took (the worker's own total where it reports one).
    generation_time: float | None = None
    #: What the run used (``parameters_used`` of the result; see ``retouch.jobs.results``).
    parameters: dict[str, Any] = {}
    #: How the request was honoured (fields an engine could not apply, ...).
    notes: list[str] = []
    #: Set when the request asked for ``enable_debug``: the result's ``debug_info``.
    debug: dict[str, Any] | None = None


class Job(msgspec.Struct, kw_only=True):
    """One job as stored: public status fields plus what the service needs to run and own it."""

    task_id: str
    owner: str
    #: The generation engine (the request's ``engine``, or ``default``) whose queue and concurrency
    #: limit the job uses. Stored under its old key ``backend``, so records written before the
    #: rename (SQLite rows, the Modal Dict) and containers of the previous release still read it.
    engine: str = msgspec.field(name="backend")
    #: FIFO order within the engine's queue (kept across re-queues).
    seq: int
    status: JobStatusValue = "queued"
    stage: str | None = None
    progress: float = 0.0
    current_step: int | None = None
    total_steps: int | None = None
    #: Said while the model loads (stage ``loading_model``), for people watching the progress.
    loading_message: str | None = None
    error: str | None = None
    #: The HTTP status that best describes a failure (the synchronous ``POST /api/generate`` uses it).
    error_status: int | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    idempotency_key: str | None = None
    #: sha256 of the submitted body: a reused idempotency key with another body is refused.
    request_hash: str | None = None
    #: Blob holding the encoded request (deleted once the job is finished).
    request_blob: str | None = None
    #: Runs started so far; the current run is ``run_id`` (``<task_id>.<attempt>``).
    attempt: int = 0
    run_id: str | None = None
    cancel_requested: bool = False
    #: The SSE id of the last change written to this record.
    event_id: int = 0
    result: ResultMeta | None = None
    #: Where to POST the status at the terminal state, and which further moments (``start``).
    webhook: str | None = None
    webhook_events: list[str] = []

    @property
    def terminal(self) -> bool:
        """Whether the job is finished (``done``, ``error`` or ``cancelled``)."""
        return self.status in TERMINAL_STATUSES

    # -- transitions ------------------------------------------------------------------------
    def start(self, now: float) -> str:
        """``queued -> processing``: a new attempt; returns its ``run_id``."""
        self._expect("start", "queued")
        self.attempt += 1
        self.run_id = f"{self.task_id}.{self.attempt}"
        self.status = "processing"
        self.stage = "loading_model"
        self.loading_message = LOADING_MESSAGE
        self.progress = 0.0
        self.current_step = None
        self.total_steps = None
        self.started_at = now
        return self.run_id

    def apply_progress(self, event: ProgressEvent) -> bool:
        """Take a progress event of the current run; ``False`` (nothing changed) for a late or
        stale event: another run's, a finished job's, or one behind what is already known."""
        if self.status != "processing" or event.run_id != self.run_id:
            return False
        old_rank = STAGE_ORDER.get(self.stage or "", 0)
        new_rank = STAGE_ORDER.get(event.stage, 0)
        if new_rank < old_rank:
            return False
        if new_rank == old_rank and (event.current_step or 0) < (self.current_step or 0):
            return False
        self.stage = event.stage
        self.loading_message = (event.message or LOADING_MESSAGE) if event.stage == "loading_model" else None
        self.progress = min(1.0, max(self.progress, event.progress))
        if event.current_step is not None:
            self.current_step = event.current_step
        if event.total_steps is not None:
            self.total_steps = event.total_steps
        return True

    def succeed(self, result: ResultMeta, now: float) -> None:
        """``processing -> done`` with its result."""
        self._expect("succeed", "processing")
        self.status = "done"
        self.result = result
        self.progress = 1.0
        self.stage = None
        self.loading_message = None
        self.error = None
        self.finished_at = now

    def fail(self, detail: str, now: float, status: int = 502) -> None:
        """``queued | processing -> error`` with a reason (and the HTTP status that fits it)."""
        self._expect("fail", "queued", "processing")
        self.status = "error"
        self.error = detail
        self.error_status = status
        self.finished_at = now

    def cancel(self, now: float, detail: str = "cancelled") -> None:
        """``queued | processing -> cancelled``."""
        self._expect("cancel", "queued", "processing")
        self.status = "cancelled"
        self.error = detail
        self.finished_at = now

    def requeue(self, *, counted: bool = True) -> None:
        """``processing -> queued``: start-up recovery, or a run whose worker was away or lost
        (see the module docstring). ``counted=False``: the run never reached a worker, so it does
        not use up an attempt (and the next run reuses its id)."""
        self._expect("requeue", "processing")
        if not counted:
            self.attempt = max(0, self.attempt - 1)
        self.status = "queued"
        self.run_id = None
        self.stage = None
        self.loading_message = None
        self.progress = 0.0
        self.current_step = None
        self.total_steps = None
        self.started_at = None
        self.cancel_requested = False

    def _expect(self, action: str, *allowed: str) -> None:
        if self.status not in allowed:
            raise TransitionError(f"cannot {action} job {self.task_id}: it is {self.status}")

    # -- public views -----------------------------------------------------------------------
    def status_view(self, queue_position: int | None = None, waiting_for_engine: str | None = None) -> JobStatus:
        """The public :class:`JobStatus`. ``waiting_for_engine``: why the job's engine cannot take
        runs now; a queued job then says ``stage: "waiting_for_engine"`` with it as its message."""
        waiting = waiting_for_engine if self.status == "queued" else None
        return JobStatus(
            task_id=self.task_id,
            status=self.status,
            stage=self.stage if self.status == "processing" else (WAITING_FOR_ENGINE if waiting else None),
            progress=self.progress,
            current_step=self.current_step,
            total_steps=self.total_steps,
            loading_message=self.loading_message if self.status == "processing" else waiting,
            queue_position=queue_position if self.status == "queued" else None,
            error=self.error,
            created_at=_dt(self.created_at) or datetime.now(UTC),
            started_at=_dt(self.started_at),
            finished_at=_dt(self.finished_at),
        )

    def event_view(
        self,
        type_: JobEventType,
        event_id: int,
        queue_position: int | None = None,
        waiting_for_engine: str | None = None,
    ) -> JobEvent:
        """The public :class:`JobEvent` for a change of this job."""
        fields = msgspec.structs.asdict(self.status_view(queue_position, waiting_for_engine))
        return JobEvent(type=type_, id=str(event_id), **fields)


def is_terminal(status: str) -> bool:
    """Whether ``status`` is final."""
    return status in TERMINAL_STATUSES


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def event_type_for(job: Job) -> JobEventType:
    """The event type announcing ``job``'s current status."""
    if job.status == "processing":
        return "processing"
    return job.status
