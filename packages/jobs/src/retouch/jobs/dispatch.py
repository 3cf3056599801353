"""The ``Dispatcher`` seam: how a job's run reaches a generation worker (HTTP locally, Modal spawn
on Modal) and how the worker's events come back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from retouch.sdk.models.generation import RunEvent, RunRequest

__all__ = ["DispatchError", "Dispatcher", "EventHandler", "Retry"]

#: Receives each event of a run, in order.
EventHandler = Callable[[RunEvent], Awaitable[None]]
#: Why a failed dispatch is worth trying again: ``away`` (the worker could not be reached, or said
#: it cannot take runs now: the run never started), ``lost`` (the worker went away mid-run),
#: ``storage`` (the jobs service could not store what the run produced).
Retry = Literal["away", "lost", "storage"]


class DispatchError(Exception):
    """The run could not be started, or its worker went away without a final event.

    ``status`` is the HTTP status that describes it best: the generation service's own answer
    when it refused the run, else 502 (the worker was lost). ``retry`` says whether the job should
    wait and run again instead of failing (see :data:`Retry`); ``None``: the failure is final.
    """

    def __init__(self, detail: str, status: int = 502, *, retry: Retry | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry: Retry | None = retry


class Dispatcher(Protocol):
    """Runs :class:`RunRequest` on a generation worker."""

    async def run(self, request: RunRequest, on_event: EventHandler) -> None:
        """Start ``request`` (its ``run_id`` is set) and pass every event to ``on_event`` up to and
        including the terminal :class:`ResultEvent` or :class:`ErrorEvent`, then return.

        Raises :class:`DispatchError` when the worker cannot be reached, refuses the run, or stops
        without a terminal event. Cancelling the calling task abandons the run (it does not stop
        the engine: :meth:`cancel` does)."""

    async def cancel(self, run_id: str) -> None:
        """Ask the engine running ``run_id`` to stop between steps (best effort; a run that is
        unknown or already over is not an error)."""

    async def aclose(self) -> None:
        """Release connections."""

    # A dispatcher may also offer ``async def probe(self) -> bool``: whether its workers answer
    # now. The job manager calls it while an engine is away, before dispatching again; without it
    # the next dispatch is the probe.
