"""FIFO queues per generation backend with a bounded number of running jobs each.

Positions are exact: a job's ``queue_position`` is 1 plus the number of jobs of the same backend
submitted before it and still waiting. Order is by ``seq`` (submission order), so jobs re-queued
after a restart go back to the front, where they were.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

__all__ = ["JobQueue"]


class JobQueue:
    """Waiting and running job ids, per backend; ``limit_for(backend)`` caps the running ones."""

    def __init__(self, limit_for: Callable[[str], int]) -> None:
        self._limit_for = limit_for
        self._waiting: dict[str, list[tuple[int, str]]] = {}
        self._running: dict[str, set[str]] = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._paused: set[str] = set()

    def push(self, task_id: str, backend: str, seq: int) -> None:
        """Add a waiting job, in ``seq`` order."""
        if task_id in self._where:
            raise ValueError(f"job {task_id} is already queued or running")
        bisect.insort(self._waiting.setdefault(backend, []), (seq, task_id))
        self._where[task_id] = (backend, seq)

    def remove(self, task_id: str) -> list[str]:
        """Take a waiting job out; returns the ids behind it, whose position just changed.
        A job that is not waiting changes nothing."""
        where = self._where.get(task_id)
        if where is None or task_id in self._running.get(where[0], ()):
            return []
        backend, seq = where
        waiting = self._waiting[backend]
        index = bisect.bisect_left(waiting, (seq, task_id))
        del waiting[index]
        del self._where[task_id]
        return [tid for _, tid in waiting[index:]]

    def position(self, task_id: str) -> int | None:
        """1-based position among the waiting jobs of its backend; ``None`` if not waiting."""
        where = self._where.get(task_id)
        if where is None or task_id in self._running.get(where[0], ()):
            return None
        backend, seq = where
        return bisect.bisect_left(self._waiting[backend], (seq, task_id)) + 1

    def pop_ready(self) -> tuple[list[str], list[str]]:
        """Move jobs into free running slots, oldest first.

        Returns ``(started, moved)``: the ids now running, and the ids still waiting whose
        position changed because of that."""
        started: list[str] = []
        moved: list[str] = []
        for backend, waiting in self._waiting.items():
            if backend in self._paused:
                continue
            running = self._running.setdefault(backend, set())
            free = self._limit_for(backend) - len(running)
            if free <= 0 or not waiting:
                continue
            heads, waiting[:] = waiting[:free], waiting[free:]
            for _, task_id in heads:
                running.add(task_id)
                started.append(task_id)
            moved.extend(tid for _, tid in waiting)
        return started, moved

    def pause(self, backend: str) -> None:
        """Start nothing more on ``backend`` until :meth:`resume` (its jobs keep their places)."""
        self._paused.add(backend)

    def resume(self, backend: str) -> None:
        """Let ``backend``'s jobs start again."""
        self._paused.discard(backend)

    def is_paused(self, backend: str) -> bool:
        """Whether ``backend`` is paused."""
        return backend in self._paused

    def waiting_on(self, backend: str) -> list[str]:
        """The ids waiting for ``backend``, in order."""
        return [task_id for _, task_id in self._waiting.get(backend, ())]

    def release(self, task_id: str) -> None:
        """A running job finished: free its slot."""
        where = self._where.pop(task_id, None)
        if where is not None:
            self._running.get(where[0], set()).discard(task_id)

    def is_running(self, task_id: str) -> bool:
        """Whether ``task_id`` holds a running slot."""
        where = self._where.get(task_id)
        return where is not None and task_id in self._running.get(where[0], ())

    def waiting_count(self) -> int:
        """Jobs waiting over every backend."""
        return sum(len(w) for w in self._waiting.values())

    def running_count(self) -> int:
        """Jobs holding a slot over every backend."""
        return sum(len(r) for r in self._running.values())

    def counts(self) -> dict[str, tuple[int, int]]:
        """``(waiting, running)`` per backend that has had jobs (the metrics read it)."""
        names = set(self._waiting) | set(self._running)
        return {name: (len(self._waiting.get(name, ())), len(self._running.get(name, ()))) for name in names}
