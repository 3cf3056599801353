"""The jobs service's metrics (defined in :mod:`retouch.runtime.metrics`): queue depth and running
jobs per engine (read at scrape time), time queued, finished jobs, engine seconds per owner, and
webhook delivery outcomes.

The per-engine series keep their label name ``backend`` (what dashboards and alerts select on);
its value is the job's engine (``default`` when the request named none)."""

from __future__ import annotations

from collections.abc import Iterator

from retouch.jobs.queue import JobQueue
from retouch.jobs.state import Job
from retouch.runtime.metrics import GPU_SECONDS, JOBS_FINISHED, JOBS_QUEUE_WAIT, WEBHOOK_DELIVERIES

__all__ = ["job_finished", "job_started", "queue_gauges", "webhook_outcome"]


def job_started(job: Job, now: float) -> None:
    """Record how long ``job`` waited in its queue."""
    JOBS_QUEUE_WAIT.labels(job.engine).observe(max(0.0, now - job.created_at))


def job_finished(job: Job) -> None:
    """Count ``job``'s terminal status, and the engine time it held (started to finished)."""
    JOBS_FINISHED.labels(job.engine, job.status).inc()
    if job.started_at is not None and job.finished_at is not None:
        engine = (job.result.engine if job.result is not None else None) or job.engine
        GPU_SECONDS.labels(job.owner, engine).inc(max(0.0, job.finished_at - job.started_at))


def webhook_outcome(outcome: str) -> None:
    """Count one webhook delivery attempt's outcome."""
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def queue_gauges(queue: JobQueue) -> Iterator[tuple[str, str, dict[str, str], float]]:
    """The queue's gauges now (a :data:`~retouch.runtime.metrics.GaugeSource`)."""
    for engine, (waiting, running) in sorted(queue.counts().items()):
        labels = {"backend": engine}
        yield "retouch_jobs_queue_depth", "Jobs waiting in the queue, per generation engine", labels, waiting
        yield "retouch_jobs_running", "Jobs running, per generation engine", labels, running
