"""Running one edit from request to PNG, with progress events, cancellation and bounded concurrency.

:class:`Runner` owns the engines of a process, loads them once (in the background, so health can
say ``loading``), validates requests before any model work, lets at most
``RETOUCH_GENERATION_MAX_CONCURRENT_RUNS`` edits run at once, and composites every engine's output
so nothing outside the mask changes. The HTTP service and the plain-Python entry :func:`run` (what a
Modal GPU worker calls, no HTTP involved) both go through it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable

from retouch.generation.__about__ import __version__
from retouch.generation.compositing import composite
from retouch.generation.engines import CancelCheck, Engine, RunCancelled, check_cancelled, create_engine
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import EditJob, validate
from retouch.runtime.images import encode_image
from retouch.runtime.loading import BackgroundLoad, LoadState
from retouch.runtime.metrics import MODEL_LOAD_SECONDS, RUN_SECONDS
from retouch.runtime.problems import ProblemError
from retouch.runtime.settings import load_settings
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.common import Health, Problem
from retouch.sdk.models.generation import ErrorEvent, ProgressEvent, ResultEvent, RunEvent, RunRequest, Stage

__all__ = ["EventSink", "Runner", "default_runner", "error_event", "run"]

log = logging.getLogger("retouch.generation")

#: Receives each event of a run, in order (called from the thread doing the run).
EventSink = Callable[[RunEvent], None]

_STAGE_PROGRESS: dict[str, float] = {"queued": 0.0, "loading_model": 0.0, "preprocessing": 0.02, "postprocessing": 0.97}
#: While a run waits (for a slot or the model), its stage is repeated this often, so that a
#: stream never goes silent long enough for a reader's timeout.
_KEEPALIVE_S = 10.0
_POLL_S = 0.05


def _never() -> bool:
    return False


def _ignore(_event: RunEvent) -> None:
    return None


def error_event(run_id: str, exc: BaseException) -> ErrorEvent:
    """The terminal event for a run that ended with ``exc`` (cancelled: 409 ``cancelled``)."""
    if isinstance(exc, ProblemError):
        return ErrorEvent(run_id=run_id, problem=exc.to_problem())
    problem = Problem(
        title="Internal Server Error", status=500, detail=f"generation failed: {type(exc).__name__}: {exc}"
    )
    return ErrorEvent(run_id=run_id, problem=problem)


class Runner:
    """The engines of one process and everything around a run."""

    def __init__(self, settings: GenerationSettings) -> None:
        self.settings = settings
        self.engines: dict[str, Engine] = {name: create_engine(name, settings) for name in settings.engines}
        self.loader = BackgroundLoad(self._load_engines, what="the model", thread_name="retouch-generation-load")
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_runs)
        self._count_lock = threading.Lock()
        #: Runs admitted and not finished (running or waiting for a slot).
        self.pending = 0

    # -- loading --------------------------------------------------------------------------------
    def _load_engines(self) -> None:
        for name, engine in self.engines.items():
            started = time.perf_counter()
            engine.load()
            MODEL_LOAD_SECONDS.labels(name).observe(time.perf_counter() - started)

    @property
    def state(self) -> LoadState:
        """``loading``, ``ready`` or ``failed``: how loading the engines went."""
        return self.loader.state

    @property
    def error(self) -> str | None:
        """Why loading the engines failed."""
        return self.loader.error

    def load(self) -> None:
        """Load every engine now (blocking); afterwards ``state`` is ``ready`` or ``failed``."""
        self.loader.run()

    def ensure_loading(self) -> None:
        """Start :meth:`load` in a background thread, once."""
        self.loader.start()

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Block until loading has finished (ready or failed); ``False`` after ``timeout_s``."""
        return self.loader.wait(timeout_s)

    def health(self) -> Health:
        """Engine, device and model state for ``/api/health``."""
        engine = self.engines[self.settings.engine]
        report = Health(
            service="generation",
            version=__version__,
            engine=engine.name,
            device=engine.device,
            engines=list(self.engines),
        )
        task_states = getattr(engine, "task_states", None)  # model engines say how they do each task
        if callable(task_states):
            report.tasks = task_states()
        if self.state == "failed":
            report.status, report.ready, report.detail = "unhealthy", False, f"model failed to load: {self.error}"
        elif self.state != "ready":
            report.status, report.ready, report.detail = "loading", False, "loading the model"
        return report

    # -- a run ----------------------------------------------------------------------------------
    def prepare(self, request: RunRequest, run_id: str | None = None) -> EditJob:
        """Validate ``request`` for its engine; every 4xx a run can have is raised here."""
        job = validate(request, run_id=run_id or request.run_id or uuid.uuid4().hex, settings=self.settings)
        self.engines[job.engine].check(job)
        return job

    def admit(self) -> bool:
        """Count one more run in, unless as many as may wait are already waiting."""
        with self._count_lock:
            if self.pending >= self.settings.max_concurrent_runs + self.settings.max_queued_runs:
                return False
            self.pending += 1
            return True

    def release(self) -> None:
        """Count a run admitted with :meth:`admit` out again."""
        with self._count_lock:
            self.pending -= 1

    def execute(self, job: EditJob, on_event: EventSink = _ignore, cancelled: CancelCheck = _never) -> ResultEvent:
        """Run a prepared job: progress to ``on_event``, the result returned; raises
        :class:`~retouch.generation.engines.RunCancelled` or another ProblemError on failure."""
        started = time.perf_counter()
        timings: dict[str, float] = {}

        def emit(
            stage: Stage, current_step: int | None = None, total_steps: int | None = None, message: str | None = None
        ) -> None:
            progress = _STAGE_PROGRESS.get(stage, 0.05)
            if stage == "denoising" and current_step is not None and total_steps:
                progress = 0.05 + 0.9 * min(current_step, total_steps) / total_steps
            on_event(
                ProgressEvent(
                    run_id=job.run_id,
                    stage=stage,
                    progress=round(progress, 4),
                    current_step=current_step,
                    total_steps=total_steps,
                    message=message,
                )
            )

        self._wait(
            lambda wait: self._slots.acquire(timeout=wait) if wait else self._slots.acquire(False),
            "queued",
            emit,
            cancelled,
        )
        try:
            timings["queued_s"] = time.perf_counter() - started
            if not self.loader.finished:
                self.ensure_loading()
                self._wait(lambda wait: self.loader.wait(wait), "loading_model", emit, cancelled)
            timings["load_wait_s"] = time.perf_counter() - started - timings["queued_s"]
            if self.state == "failed":
                raise ProblemError(503, f"the model failed to load: {self.error}")
            check_cancelled(cancelled)
            emit("preprocessing")
            engine_started = time.perf_counter()
            result = self.engines[job.engine].edit(job, emit, cancelled)
            timings["engine_s"] = time.perf_counter() - engine_started
            check_cancelled(cancelled)
            emit("postprocessing")
            post_started = time.perf_counter()
            image = result.image.convert("RGB")
            if image.size != job.size:
                raise RuntimeError(f"the {job.engine} engine returned {image.size}, not the input's {job.size}")
            region = result.composite_mask if result.composite_mask is not None else job.mask
            if region is not None:
                image = composite(job.image, image, region, self.settings.composite_grow_px)
            png = encode_image(image, "png")
            timings["postprocess_s"] = time.perf_counter() - post_started
        finally:
            self._slots.release()
        timings["total_s"] = time.perf_counter() - started
        for stage, seconds in timings.items():
            RUN_SECONDS.labels(job.engine, job.task, stage.removesuffix("_s")).observe(seconds)
        return ResultEvent(
            run_id=job.run_id,
            image=Base64Bytes(png),
            width=image.width,
            height=image.height,
            seed=result.seed,
            engine=job.engine,
            timings={k: round(v, 4) for k, v in timings.items()},
            notes=list(job.notes) + list(result.notes),
        )

    @staticmethod
    def _wait(
        done: Callable[[float], bool], stage: Stage, emit: Callable[[Stage], None], cancelled: CancelCheck
    ) -> None:
        """Until ``done(seconds)`` (which may block that long) holds, say ``stage`` now and then;
        stop if cancelled. A first, non-blocking ``done(0)`` decides whether there is a wait."""
        if done(0):
            return
        emit(stage)
        last = time.monotonic()
        while not done(_POLL_S):
            check_cancelled(cancelled)
            if time.monotonic() - last >= _KEEPALIVE_S:
                emit(stage)
                last = time.monotonic()

    def run(self, request: RunRequest, on_event: EventSink = _ignore, cancelled: CancelCheck = _never) -> ResultEvent:
        """Validate and run ``request``; raises a ProblemError (4xx/5xx, 409 when cancelled)."""
        return self.execute(self.prepare(request), on_event, cancelled)

    def report(self, job: EditJob, on_event: EventSink, cancelled: CancelCheck = _never) -> ResultEvent | ErrorEvent:
        """Execute ``job`` and hand ``on_event`` every event, ending with exactly one result or
        error event (also returned); never raises for a failed run."""
        terminal: ResultEvent | ErrorEvent
        try:
            terminal = self.execute(job, on_event, cancelled)
        except RunCancelled as exc:
            log.info("run %s cancelled", job.run_id)
            terminal = error_event(job.run_id, exc)
        except ProblemError as exc:
            log.warning("run %s failed: %s", job.run_id, exc.detail)
            terminal = error_event(job.run_id, exc)
        except Exception as exc:
            log.exception("run %s failed", job.run_id)
            terminal = error_event(job.run_id, exc)
        on_event(terminal)
        return terminal


@functools.cache
def default_runner() -> Runner:
    """The process-wide runner configured from the environment (built on first use)."""
    return Runner(load_settings(GenerationSettings))


def run(request: RunRequest, on_event: EventSink | None = None, cancelled: CancelCheck | None = None) -> ResultEvent:
    """Edit ``request`` in this process, without HTTP (what a GPU worker function calls).

    Uses :func:`default_runner` (settings from the environment; the model loads on the first call,
    or earlier with ``default_runner().ensure_loading()``). ``on_event`` gets each
    :class:`~retouch.sdk.models.generation.ProgressEvent`; ``cancelled()`` is polled between steps.
    Returns the :class:`~retouch.sdk.models.generation.ResultEvent`; raises
    :class:`~retouch.runtime.problems.ProblemError` (its ``status`` and ``detail`` as the HTTP
    service would answer; 409 ``cancelled`` when cancelled). :func:`error_event` turns any
    exception into the matching :class:`~retouch.sdk.models.generation.ErrorEvent`.
    """
    return default_runner().run(request, on_event or _ignore, cancelled or _never)
