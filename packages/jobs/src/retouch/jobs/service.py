"""The job manager: submit, look up, cancel and wait for jobs, and run them through a dispatcher.

Every job that is not finished lives in memory (``_active``) as well as in the store; the event
loop is the only writer of those records, so transitions need no locks. Each change gets an
event id and is published to the job's event channel; transitions (not progress) are written to
the store (a job's writes are serialised by its own lock, and a terminal change is stored before
it is announced, so whoever sees the terminal event can read the result).

Recovery at start-up: queued jobs are queued again in their old order. Jobs a crash left
``processing`` are re-queued at the front (their earlier run is told to stop), up to
``max_attempts`` runs in all; past that, or when a cancel was already requested, they end
``error`` / ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec

from retouch.jobs.assets import AssetStore, request_asset_ids
from retouch.jobs.blobs import BlobStore, check_key, request_key, result_key
from retouch.jobs.dispatch import Dispatcher, DispatchError
from retouch.jobs.events import EventBroker, EventIds, Frame, sse_frame
from retouch.jobs.metrics import job_finished, job_started
from retouch.jobs.queue import JobQueue
from retouch.jobs.results import decode_request, result_meta
from retouch.jobs.settings import JobsSettings
from retouch.jobs.state import Job, event_type_for
from retouch.jobs.storage import StorageGuard, StorageProblem
from retouch.jobs.store import JobStore
from retouch.jobs.validation import validate_request
from retouch.jobs.webhooks import WebhookSender, check_webhook_request
from retouch.runtime.assets import data_key
from retouch.runtime.concurrency import run_sync
from retouch.runtime.images import ImageLimits
from retouch.runtime.problems import ProblemError
from retouch.sdk import codec
from retouch.sdk.models.generation import (
    ErrorEvent,
    GenerationRequest,
    ProgressEvent,
    ResultEvent,
    RunEvent,
    RunRequest,
)
from retouch.sdk.models.jobs import JobEventType, JobStatus

__all__ = ["ActiveJob", "JobService", "body_hash"]

log = logging.getLogger("retouch.jobs")

#: How a finished job's status reads in a sentence ("task X failed: ...").
_ENDED = {"done": "is already done", "error": "failed", "cancelled": "was cancelled"}


def body_hash(body: bytes) -> str:
    """The fingerprint an idempotency key is bound to."""
    return hashlib.sha256(body).hexdigest()


@dataclass(eq=False)
class ActiveJob:
    """A job that is not finished, with what running it needs."""

    job: Job
    done: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    #: ``time.monotonic()`` of the last word from the worker (the watchdog reads it).
    last_heard: float = 0.0
    #: A cancel may reach the worker before it knows the run; it is repeated once the run speaks.
    cancel_repeated: bool = False
    #: Set when the run ended without a verdict (its worker was away or lost): the job goes back
    #: into the queue, in its place, once the run's task has let go of its slot.
    requeued: bool = False
    #: The context of the submit (request id, trace span): the job's run carries it on.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    #: The assets the job's request refers to: kept from expiring while it runs.
    assets: set[str] = field(default_factory=set)


class JobService:
    """Owns the queue, the running jobs and their events; the routes call into it."""

    def __init__(
        self,
        settings: JobsSettings,
        store: JobStore,
        blobs: BlobStore,
        dispatcher: Dispatcher,
        *,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.settings = settings
        #: Records and sends the webhook deliveries of jobs that asked for them.
        self.webhooks = webhooks
        self.store = store
        self.blobs = blobs
        self.dispatcher = dispatcher
        self.limits = ImageLimits.from_settings(settings)
        self.assets = AssetStore(blobs, settings.jobs_dir / "staging", self.limits, settings.ttl_s)
        self.queue = JobQueue(settings.limit_for)
        self.broker = EventBroker(history=settings.event_history)
        self.ids = EventIds()
        self._active: dict[str, ActiveJob] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._last_seq = time.time_ns()
        self._closing = False
        #: Engines that cannot take runs now (unreachable, or the store is failing), and why; their
        #: queued jobs wait in their places and say so, and a watcher asks again with backoff.
        self._away: dict[str, str] = {}
        self._away_delay: dict[str, float] = {}
        self._away_watchers: dict[str, asyncio.Task[None]] = {}
        #: ``(monotonic time, names)`` of the engines the generation service last said it serves.
        self._served_engines: tuple[float, tuple[str, ...]] | None = None
        #: The local data directory's health (the Modal seams have no directory to watch).
        self.storage: StorageGuard | None = (
            StorageGuard(settings.jobs_dir, settings.min_free_bytes) if settings.backend == "local" else None
        )

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the store and take over the jobs a previous process left unfinished."""
        await self.store.open()
        if self.webhooks is not None:
            await self.webhooks.open()
            await self.webhooks.settle_held(self.store.get)
        await self.recover()
        if self.webhooks is not None:
            self.spawn(self.webhooks.run())

    async def stop(self) -> None:
        """Stop running jobs in this process (they stay ``processing`` in the store and are recovered by
        the next start), then close the store and the dispatcher."""
        self._closing = True
        tasks = [entry.task for entry in self._active.values() if entry.task is not None]
        tasks.extend(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.dispatcher.aclose()
        if self.webhooks is not None:
            await self.webhooks.close()
        await self.store.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, kept referenced until it ends (cancelled on stop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def recover(self) -> None:
        """Queue again what the store holds as queued or running (see the module docstring)."""
        jobs = await self.store.active()
        for job in jobs:
            self.ids.bump_floor(job.event_id)
            self._last_seq = max(self._last_seq, job.seq)
        now = time.time()
        for job in jobs:
            entry = ActiveJob(job)
            self._active[job.task_id] = entry
            self.broker.open(job.task_id, baseline=job.event_id)
            if job.status == "processing":
                old_run = job.run_id
                if job.cancel_requested:
                    job.cancel(now, "cancelled (the jobs service restarted before the engine confirmed)")
                elif job.attempt >= self.settings.max_attempts:
                    job.fail(f"interrupted by {job.attempt} restarts of the jobs service; not retried again", now, 503)
                else:
                    job.requeue()
                if old_run:
                    self.spawn(self.dispatcher.cancel(old_run))
                log.info("recovered running job %s as %s", job.task_id, job.status)
            if job.terminal:
                await self._commit(entry, event_type_for(job))
                continue
            self.queue.push(job.task_id, job.engine, job.seq)
            await self._commit(entry, "queued")
        self._pump()

    # -- submit and look up ---------------------------------------------------------------------
    async def submit(
        self,
        owner: str,
        request: GenerationRequest,
        *,
        fingerprint: str,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Validate and queue ``request``; returns ``(job, created)``. With an idempotency key the
        owner already used, returns that job (``created`` false) without queueing anything."""
        # Decoding an ``asset:`` reference checks that ``owner`` holds it (runtime.assets).
        if self.storage is not None:
            refused = await run_sync(self.storage.problem)
            if refused is not None:
                raise refused.error()
        # An engine the request names must be one the deployment serves (checked now, not when
        # the job runs); unknown while generation is away, it is then checked when the job runs.
        engines = await self._known_engines() if request.engine else ()
        await run_sync(validate_request, request, self.limits, engines)
        check_webhook_request(request, owner, self.settings)
        asset_ids = request_asset_ids(request)
        await self.assets.touch(owner, asset_ids)
        if self.queue.waiting_count() >= self.settings.max_queued:
            raise ProblemError(
                429,
                f"the job queue is full ({self.settings.max_queued} waiting); retry later",
                headers={"Retry-After": "5"},
            )
        now = time.time()
        task_id = uuid.uuid4().hex
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        job = Job(
            task_id=task_id,
            owner=owner,
            engine=request.engine or "default",
            seq=self._last_seq,
            created_at=now,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            request_blob=request_key(task_id),
            event_id=self.ids.next(),
            webhook=request.webhook,
            webhook_events=list(request.webhook_events),
        )
        # The request is stored before the record, so every stored job can be run after a crash.
        try:
            await self.blobs.put(request_key(task_id), codec.encode(request))
            stored, created = await self.store.create(job)
        except Exception as exc:
            problem = self._storage_failure(exc)
            if problem is None:
                raise
            # Nothing of a job that was not accepted is kept.
            self.spawn(self.blobs.delete_prefix(task_id))
            raise problem.error() from exc
        if not created:
            self.spawn(self.blobs.delete_prefix(task_id))
            if stored.request_hash != fingerprint:
                raise ProblemError(422, f"Idempotency-Key {idempotency_key!r} was already used for a different request")
            return self._current(stored), False
        entry = ActiveJob(job, assets=asset_ids)
        self._active[task_id] = entry
        self.broker.open(task_id, baseline=0)
        self.queue.push(task_id, job.engine, job.seq)
        self._publish(entry, "queued", job.event_id)
        self._pump()
        return job, True

    def _current(self, job: Job) -> Job:
        entry = self._active.get(job.task_id)
        return entry.job if entry is not None else job

    async def lookup(self, owner: str, task_id: str) -> Job:
        """The job ``task_id`` if ``owner`` made it; 404 otherwise (another owner's job is not
        told apart from a missing one)."""
        entry = self._active.get(task_id)
        job = entry.job if entry is not None else await self.store.get(task_id)
        if job is None or job.owner != owner:
            raise ProblemError(404, f"no task {task_id}")
        return self._current(job)

    def status_of(self, job: Job) -> JobStatus:
        """The public status of ``job`` with its live queue position."""
        return job.status_view(self.queue.position(job.task_id), self._away.get(job.engine))

    async def status_answer(self, job: Job) -> JobStatus:
        """:meth:`status_of` plus how the job's webhook deliveries went (the status route's answer)."""
        view = self.status_of(job)
        if job.webhook is not None and self.webhooks is not None:
            view.webhook_deliveries = await self.webhooks.views(job.task_id)
        return view

    async def result(self, owner: str, task_id: str) -> tuple[Job, bytes]:
        """The finished job and its PNG; 409 while it is not finished (or when it has no image)."""
        job = await self.lookup(owner, task_id)
        if job.status != "done" or job.result is None:
            if job.status in ("queued", "processing"):
                raise ProblemError(409, f"task {task_id} is {job.status}; its result is not ready yet")
            reason = f": {job.error}" if job.error and job.status == "error" else ""
            raise ProblemError(409, f"task {task_id} {_ENDED[job.status]}{reason}; it has no result")
        data = await self.blobs.get(job.result.blob)
        if data is None:
            raise ProblemError(404, f"the result of task {task_id} has expired")
        return job, data

    async def wait(self, task_id: str, timeout_s: float) -> None:
        """Wait until ``task_id`` is finished, at most ``timeout_s`` seconds."""
        entry = self._active.get(task_id)
        if entry is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(entry.done.wait()), timeout_s)

    # -- cancel ---------------------------------------------------------------------------------
    async def cancel(self, owner: str, task_id: str) -> Job:
        """Cancel a queued job at once, or a running one through its engine (bounded wait, then
        cancelled regardless); 409 for a finished job, whose result stays."""
        job = await self.lookup(owner, task_id)
        entry = self._active.get(task_id)
        if job.terminal or entry is None:
            raise ProblemError(409, f"task {task_id} {_ENDED.get(job.status, job.status)}; there is nothing to cancel")
        if job.status == "queued":
            moved = self.queue.remove(task_id)
            job.cancel(time.time(), "cancelled while queued")
            await self._commit(entry, "cancelled")
            self._announce_positions(moved)
            return job
        if not job.cancel_requested:
            job.cancel_requested = True
            await self._save(entry)
            if job.run_id:
                await self.dispatcher.cancel(job.run_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(entry.done.wait()), self.settings.cancel_wait_s)
        if not job.terminal:
            job.cancel(time.time(), "cancelled (the engine did not confirm in time)")
            await self._end_run(entry, "cancelled")
        return job

    # -- running --------------------------------------------------------------------------------
    def _pump(self) -> None:
        if self._closing:
            return
        started, moved = self.queue.pop_ready()
        for task_id in started:
            entry = self._active[task_id]
            # Started here, synchronously, so a cancel arriving next sees a running job.
            entry.job.start(time.time())
            job_started(entry.job, time.time())
            entry.last_heard = time.monotonic()
            # In the submit's context, not the one of whatever freed the slot (another job's run).
            entry.task = asyncio.get_running_loop().create_task(
                self._run(entry), name=f"job-{task_id}", context=entry.context.copy()
            )
        self._announce_positions(moved)

    def _announce_positions(self, task_ids: list[str]) -> None:
        # Positions are not stored; only listeners need to hear that they moved.
        for task_id in task_ids:
            entry = self._active.get(task_id)
            if entry is not None and self.broker.has_subscribers(task_id):
                self._publish(entry, "queued", self.ids.next())

    async def _run(self, entry: ActiveJob) -> None:
        job = entry.job
        run_id = job.run_id or ""
        try:
            await self._commit(entry, "processing")
            if job.cancel_requested:
                job.cancel(time.time())
                await self._commit(entry, "cancelled")
                return
            data = await self.blobs.get(job.request_blob or request_key(job.task_id))
            if data is None:
                raise DispatchError("the stored request of this job is missing", 500)
            # The owner goes with the run: the engine reads the request's assets as that owner.
            request = msgspec.structs.replace(codec.decode(data, RunRequest), run_id=run_id, owner=job.owner)
            entry.assets |= request_asset_ids(request)

            async def on_event(event: RunEvent) -> None:
                await self._on_event(entry, run_id, event)

            await self.dispatcher.run(request, on_event)
            if not job.terminal:
                raise DispatchError("generation worker lost: it stopped without a result")
        except DispatchError as exc:
            if not job.terminal and not self._retry_later(entry, exc):
                await self._end_failed(entry, exc.detail, exc.status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            problem = self._storage_failure(exc)
            if problem is not None:
                # The store failed under the run (a full disk): the job waits for it, not fails.
                retry = DispatchError(problem.detail, problem.status, retry="storage")
                if not job.terminal and not self._retry_later(entry, retry):
                    await self._end_failed(entry, problem.detail, problem.status)
            else:
                log.exception("job %s failed inside the jobs service", job.task_id)
                if not job.terminal:
                    await self._end_failed(entry, f"internal error in the jobs service: {exc}", 500)
        finally:
            self.queue.release(job.task_id)
            if entry.requeued:
                await self._back_in_queue(entry)
            self._pump()

    async def _on_event(self, entry: ActiveJob, run_id: str, event: RunEvent) -> None:
        job = entry.job
        if job.terminal or event.run_id != run_id:
            return
        entry.last_heard = time.monotonic()
        # The engine answers: the next outage starts its backoff from the beginning.
        self._away_delay.pop(job.engine, None)
        if job.cancel_requested and not entry.cancel_repeated:
            entry.cancel_repeated = True
            self.spawn(self.dispatcher.cancel(run_id))
        if isinstance(event, ProgressEvent):
            if job.apply_progress(event):
                await self._commit(entry, "progress")
        elif isinstance(event, ResultEvent):
            # A worker whose result is too large for its event channel stores the image itself and
            # names the blob (``image_blob``, a key in the same blob store).
            stored_by_worker = event.image_blob
            blob = check_key(stored_by_worker) if stored_by_worker else result_key(job.task_id)
            if not job.cancel_requested and not stored_by_worker:
                # The result is an asset of the job's owner (``image_asset``): the next edit can
                # refer to it instead of sending it back.
                stored = await self.assets.put_bytes(job.owner, bytes(event.image))
                blob = data_key(stored.asset_id)
            if job.terminal:
                return
            if job.cancel_requested:
                # A cancel the caller was told about wins over a result that raced it.
                job.cancel(time.time())
                await self._commit(entry, "cancelled")
                return
            request = decode_request(await self.blobs.get(job.request_blob or request_key(job.task_id)))
            if job.terminal:
                return
            elapsed = time.time() - job.started_at if job.started_at else None
            meta = result_meta(blob, event, request, elapsed)
            job.succeed(meta, time.time())
            await self._commit(entry, "done")
        elif isinstance(event, ErrorEvent):
            problem = event.problem
            if job.cancel_requested or (problem.status == 409 and problem.detail == "cancelled"):
                job.cancel(time.time())
                await self._commit(entry, "cancelled")
            else:
                job.fail(f"generation failed: {problem.detail}", time.time(), problem.status)
                await self._commit(entry, "error")

    async def _end_failed(self, entry: ActiveJob, detail: str, status: int) -> None:
        job = entry.job
        if job.cancel_requested:
            job.cancel(time.time())
            await self._commit(entry, "cancelled")
        else:
            job.fail(detail, time.time(), status)
            await self._commit(entry, "error")

    async def _end_run(self, entry: ActiveJob, type_: JobEventType) -> None:
        """Store a terminal change made from outside the run (watchdog, forced cancel), then stop
        the run's task and tell the engine to stop."""
        await self._commit(entry, type_)
        if entry.task is not None and entry.task is not asyncio.current_task():
            entry.task.cancel()
        if entry.job.run_id:
            self.spawn(self.dispatcher.cancel(entry.job.run_id))

    async def lose(self, entry: ActiveJob, silent_for: float) -> None:
        """The watchdog's verdict: the worker of this running job is gone."""
        job = entry.job
        if job.terminal:
            return
        if job.cancel_requested:
            job.cancel(time.time())
            await self._end_run(entry, "cancelled")
        elif job.attempt < self.settings.max_attempts and entry.task is not None:
            # A lost run is retried, up to max_attempts runs in all: the job goes back in its place.
            log.warning("job %s: run %s lost (silent %.0f s); queued again", job.task_id, job.run_id, silent_for)
            old_run = job.run_id
            job.requeue()
            entry.requeued = True
            entry.task.cancel()
            if old_run:
                self.spawn(self.dispatcher.cancel(old_run))
        else:
            job.fail(
                f"generation worker lost: nothing heard from it for {silent_for:.0f} s"
                f" (run {job.attempt} of {self.settings.max_attempts}; not retried again)",
                time.time(),
                504,
            )
            await self._end_run(entry, "error")

    # -- an engine that is away -----------------------------------------------------------------
    def _storage_failure(self, exc: BaseException) -> StorageProblem | None:
        return self.storage.failed(exc) if self.storage is not None else None

    def _retry_later(self, entry: ActiveJob, exc: DispatchError) -> bool:
        """Put a job whose run failed for a reason that will pass (see :data:`~retouch.jobs.
        dispatch.Retry`) back into the queue, and hold its engine until it answers; ``False``
        when the failure is final (or the job is out of attempts, or being cancelled)."""
        job = entry.job
        if exc.retry is None or job.cancel_requested or job.status != "processing":
            return False
        if exc.retry == "lost":
            if job.attempt >= self.settings.max_attempts:
                exc.detail += f" (run {job.attempt} of {self.settings.max_attempts}; not retried again)"
                return False
            limit = self.settings.max_attempts
            log.warning("job %s: %s; queued again (run %d of %d)", job.task_id, exc.detail, job.attempt, limit)
        # A run that never reached a worker (or whose result could not be kept) is not the job's
        # fault: it does not use up an attempt.
        job.requeue(counted=exc.retry == "lost")
        entry.requeued = True
        self._hold_engine(job.engine, exc.detail)
        return True

    async def _back_in_queue(self, entry: ActiveJob) -> None:
        entry.requeued = False
        job = entry.job
        if job.terminal or self._closing:
            return
        self.queue.push(job.task_id, job.engine, job.seq)
        try:
            await self._commit(entry, "queued")
        except Exception as exc:
            # The live record is right; the stored one still says processing, which a restart
            # recovers the same way.
            if self._storage_failure(exc) is None:
                raise
            log.warning("job %s is queued again but could not be stored: %s", job.task_id, exc)

    def _hold_engine(self, engine: str, reason: str) -> None:
        """Start nothing more on ``engine`` until a watcher finds it back (with backoff)."""
        if engine not in self._away:
            log.warning("generation engine %r is away (%s); its jobs wait", engine, reason)
        self._away[engine] = f"waiting for the generation engine: {reason}"
        self.queue.pause(engine)
        watcher = self._away_watchers.get(engine)
        if watcher is None or watcher.done():
            self._away_watchers[engine] = self.spawn(self._watch_engine(engine))
        # Waiting jobs now say why they wait.
        self._announce_positions(self.queue.waiting_on(engine))

    async def _watch_engine(self, engine: str) -> None:
        settings = self.settings
        delay = self._away_delay.get(engine, settings.engine_retry_s)
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.engine_retry_max_s)
            self._away_delay[engine] = delay
            if await self._engine_ready():
                break
        self._away.pop(engine, None)
        self.queue.resume(engine)
        log.info("generation engine %r answers again; its jobs run", engine)
        self._announce_positions(self.queue.waiting_on(engine))
        self._pump()

    async def _engine_ready(self) -> bool:
        if self.storage is not None and await run_sync(self.storage.problem) is not None:
            return False
        probe = getattr(self.dispatcher, "probe", None)
        if probe is None:
            # The next dispatch is the probe.
            return True
        try:
            return bool(await probe())
        except Exception:
            log.exception("probing the generation engine failed")
            return False

    async def _known_engines(self) -> tuple[str, ...]:
        """The engine names a request may use: ``settings.engines``, else those the generation
        service serves (asked through the dispatcher, kept 30 s); empty when neither is known."""
        if self.settings.engines:
            return tuple(self.settings.engines)
        ask = getattr(self.dispatcher, "engines", None)
        if ask is None:
            return ()
        now = time.monotonic()
        if self._served_engines is not None and now - self._served_engines[0] < 30.0:
            return self._served_engines[1]
        try:
            served = await ask()
        except Exception:
            log.exception("asking the generation service for its engines failed")
            served = None
        if not served:
            return ()
        self._served_engines = (now, tuple(served))
        return self._served_engines[1]

    def away(self) -> dict[str, str]:
        """Engines that cannot take runs now, and why (for the health check)."""
        return dict(self._away)

    def running(self) -> list[ActiveJob]:
        """Jobs running now."""
        return [entry for entry in self._active.values() if entry.job.status == "processing"]

    # -- changes: event, store ------------------------------------------------------------------
    async def _commit(self, entry: ActiveJob, type_: JobEventType) -> None:
        job = entry.job
        job.event_id = self.ids.next()
        if not job.terminal:
            self._publish(entry, type_, job.event_id)
            # Progress is not stored: after a crash a running job starts over anyway, and while it
            # runs its live record answers every read. Only transitions are written.
            if type_ != "progress":
                await self._save(entry)
            if type_ == "processing" and self.webhooks is not None:
                await self.webhooks.job_changed(job, job.status_view())
            return
        # Stored before it is announced: a listener that sees the end can fetch the result. The
        # live record keeps answering reads until the stored one says the same.
        self.queue.remove(job.task_id)
        # The webhook delivery is written held before the record and released after it: a crash
        # in between neither loses it nor announces an end the store does not hold.
        held = await self.webhooks.hold(job, job.status_view()) if self.webhooks is not None else None
        await self._save(entry)
        if held is not None and self.webhooks is not None:
            await self.webhooks.release(held)
        self._active.pop(job.task_id, None)
        self._publish(entry, type_, job.event_id)
        entry.done.set()
        job_finished(job)
        if job.request_blob is not None:
            self.spawn(self.blobs.delete(job.request_blob))
        if entry.assets:
            # The job's inputs live a TTL after it ends, like the job itself.
            self.spawn(self.assets.touch(job.owner, entry.assets))

    async def _save(self, entry: ActiveJob) -> None:
        async with entry.lock:
            await self.store.save(entry.job)

    def _publish(self, entry: ActiveJob, type_: JobEventType, event_id: int) -> None:
        job = entry.job
        view = job.event_view(type_, event_id, self.queue.position(job.task_id), self._away.get(job.engine))
        self.broker.publish(job.task_id, Frame(event_id, sse_frame(event_id, codec.encode(view)), job.terminal))

    def snapshot(self, job: Job) -> Frame:
        """A frame of ``job``'s current state, with the id of its latest change."""
        event_id = max(job.event_id, self.broker.latest(job.task_id))
        view = job.event_view(
            event_type_for(job), event_id, self.queue.position(job.task_id), self._away.get(job.engine)
        )
        return Frame(event_id, sse_frame(event_id, codec.encode(view)), job.terminal)

    def active_job(self, task_id: str) -> Job | None:
        """The in-memory record of an unfinished job."""
        entry = self._active.get(task_id)
        return None if entry is None else entry.job

    async def expire_once(self) -> int:
        """Delete finished jobs older than the TTL and their blobs; returns how many."""
        expired = await self.store.expire(time.time() - self.settings.ttl_s)
        for job in expired:
            await self.blobs.delete_prefix(job.task_id)
            if job.result is not None and not job.result.blob.startswith((f"{job.task_id}/", "assets/")):
                await self.blobs.delete(job.result.blob)
            self.broker.forget(job.task_id)
            if self.webhooks is not None and job.webhook is not None:
                await self.webhooks.outbox.forget(job.task_id)
        if expired:
            log.info("expired %d finished jobs", len(expired))
        # A result asset expires on its own clock (its holder may use it in a later job).
        in_use = set().union(*(entry.assets for entry in self._active.values()))
        await self.assets.expire_once(in_use)
        return len(expired)
