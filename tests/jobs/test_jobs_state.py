"""The job state machine: forward only, terminal states final, late events ignored."""

from __future__ import annotations

import pytest

from retouch.jobs.state import Job, ResultMeta, TransitionError
from retouch.sdk.models.generation import ProgressEvent


def new_job() -> Job:
    return Job(task_id="t1", owner="o", engine="default", seq=1, created_at=100.0)


def progress(run_id: str, stage: str = "denoising", step: int | None = None, value: float = 0.0) -> ProgressEvent:
    return ProgressEvent(run_id=run_id, stage=stage, progress=value, current_step=step, total_steps=10)  # type: ignore[arg-type]


def test_a_job_moves_forward_to_success() -> None:
    job = new_job()
    run_id = job.start(101.0)
    assert (job.status, job.run_id, job.attempt, job.stage) == ("processing", "t1.1", 1, "loading_model")
    assert job.apply_progress(progress(run_id, step=3, value=0.3))
    job.succeed(ResultMeta(blob="t1/result.png", width=4, height=3), 102.0)
    assert (job.status, job.progress, job.finished_at, job.terminal) == ("done", 1.0, 102.0, True)
    status = job.status_view()
    assert status.started_at is not None and status.started_at.timestamp() == 101.0
    assert status.stage is None and status.done


@pytest.mark.parametrize("end", ["succeed", "fail", "cancel"])
def test_terminal_states_are_final(end: str) -> None:
    job = new_job()
    job.start(1.0)
    if end == "succeed":
        job.succeed(ResultMeta(blob="b", width=1, height=1), 2.0)
    elif end == "fail":
        job.fail("boom", 2.0)
    else:
        job.cancel(2.0)
    for action in (
        lambda: job.start(3.0),
        lambda: job.fail("again", 3.0),
        lambda: job.cancel(3.0),
        lambda: job.succeed(ResultMeta(blob="b", width=1, height=1), 3.0),
        job.requeue,
    ):
        with pytest.raises(TransitionError, match="cannot"):
            action()
    assert not job.apply_progress(progress("t1.1", step=9)), "a late event does not move a finished job"
    assert job.finished_at == 2.0


def test_a_queued_job_cannot_succeed_or_be_requeued() -> None:
    job = new_job()
    with pytest.raises(TransitionError):
        job.succeed(ResultMeta(blob="b", width=1, height=1), 1.0)
    with pytest.raises(TransitionError):
        job.requeue()
    job.cancel(1.0, "cancelled while queued")
    assert job.error == "cancelled while queued"


def test_progress_never_goes_backwards() -> None:
    job = new_job()
    run_id = job.start(1.0)
    assert job.apply_progress(progress(run_id, step=5, value=0.5))
    assert not job.apply_progress(progress(run_id, step=4, value=0.4)), "an older step"
    assert not job.apply_progress(progress(run_id, stage="preprocessing")), "an earlier stage"
    assert (job.current_step, job.progress, job.stage) == (5, 0.5, "denoising")
    assert job.apply_progress(progress(run_id, stage="postprocessing", value=0.2))
    assert job.progress == 0.5, "the progress value only grows"


def test_events_of_another_run_are_ignored() -> None:
    job = new_job()
    job.start(1.0)
    assert not job.apply_progress(progress("t1.0", step=2))
    assert not job.apply_progress(progress("other", step=2))
    assert job.current_step is None


def test_requeue_starts_a_new_attempt_whose_run_id_differs() -> None:
    job = new_job()
    first = job.start(1.0)
    job.apply_progress(progress(first, step=3, value=0.3))
    job.requeue()
    assert (job.status, job.run_id, job.progress, job.current_step, job.started_at) == ("queued", None, 0.0, None, None)
    second = job.start(2.0)
    assert second == "t1.2" != first
    assert not job.apply_progress(progress(first, step=7)), "the old run's events no longer count"


def test_the_public_view_shows_the_queue_position_only_while_queued() -> None:
    job = new_job()
    assert job.status_view(3).queue_position == 3
    job.start(1.0)
    assert job.status_view(3).queue_position is None
    event = job.event_view("processing", 42)
    assert (event.type, event.id, event.status) == ("processing", "42", "processing")
