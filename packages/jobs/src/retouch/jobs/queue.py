"""FIFO queues per generation engine with a bounded number of running jobs each.

Positions are exact: a job's ``queue_position`` is 1 plus the number of jobs of the same engine
submitted before it and still waiting. Order is by ``seq`` (submission order), so jobs re-queued
after a restart go back to the front, where they were.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

__all__ = ["JobQueue"]


class JobQueue:
    """Waiting and running job ids, per engine; ``limit_for(engine)`` caps the running ones."""

    def __init__(self, limit_for: Callable[[str], int]) -> None:
        self._limit_for = limit_for
        self._waiting: dict[str, list[tuple[int, str]]] = {}
        self._running: dict[str, set[str]] = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._paused: set[str] = set()

    def push(self, task_id: str, engine: str, seq: int) -> None:
        """Add a waiting job, in ``seq`` order."""
        if task_id in self._where:
            raise ValueError(f"job {task_id} is already queued or running")
        bisect.insort(self._waiting.setdefault(engine, []), (seq, task_id))
        self._where[task_id] = (engine, seq)

    def remove(self, task_id: str) -> list[str]:
        """Take a waiting job out; returns the ids behind it, whose position just changed.
        A job that is not waiting changes nothing."""
        where = self._where.get(task_id)
        if where is None or task_id in self._running.get(where[0], ()):
            return []
        engine, seq = where
        waiting = self._waiting[engine]
        index = bisect.bisect_left(waiting, (seq, task_id))
        del waiting[index]
        del self._where[task_id]
        return [tid for _, tid in waiting[index:]]

    def position(self, task_id: str) -> int | None:
        """1-based position among the waiting jobs of its engine; ``None`` if not waiting."""
        where = self._where.get(task_id)
        if where is None or task_id in self._running.get(where[0], ()):
            return None
        engine, seq = where
        return bisect.bisect_left(self._waiting[engine], (seq, task_id)) + 1

    def pop_ready(self) -> tuple[list[str], list[str]]:
        """Move jobs into free running slots, oldest first.

        Returns ``(started, moved)``: the ids now running, and the ids still waiting whose
        position changed because of that."""
        started: list[str] = []
        moved: list[str] = []
        for engine, waiting in self._waiting.items():
            if engine in self._paused:
                continue
            running = self._running.setdefault(engine, set())
            free = self._limit_for(engine) - len(running)
            if free <= 0 or not waiting:
                continue
            heads, waiting[:] = waiting[:free], waiting[free:]
            for _, task_id in heads:
                running.add(task_id)
                started.append(task_id)
            moved.extend(tid for _, tid in waiting)
        return started, moved

    def pause(self, engine: str) -> None:
        """Start nothing more on ``engine`` until :meth:`resume` (its jobs keep their places)."""
        self._paused.add(engine)

    def resume(self, engine: str) -> None:
        """Let ``engine``'s jobs start again."""
        self._paused.discard(engine)

    def is_paused(self, engine: str) -> bool:
        """Whether ``engine`` is paused."""
        return engine in self._paused

    def waiting_on(self, engine: str) -> list[str]:
        """The ids waiting for ``engine``, in order."""
        return [task_id for _, task_id in self._waiting.get(engine, ())]

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
        """Jobs waiting over every engine."""
        return sum(len(w) for w in self._waiting.values())

    def running_count(self) -> int:
        """Jobs holding a slot over every engine."""
        return sum(len(r) for r in self._running.values())

    def counts(self) -> dict[str, tuple[int, int]]:
        """``(waiting, running)`` per engine that has had jobs (the metrics read it)."""
        names = set(self._waiting) | set(self._running)
        return {name: (len(self._waiting.get(name, ())), len(self._running.get(name, ()))) for name in names}
