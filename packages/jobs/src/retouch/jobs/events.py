"""Job events for server-sent event streams: ids, per-job history for ``Last-Event-ID`` resume,
and fan-out to any number of subscribers.

Event ids come from one counter per process, seeded from the clock (and from the largest id the
store already holds), so they grow across restarts and a resumed client never sees an id twice.
Each frame is encoded once and shared by every subscriber.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["HEARTBEAT", "EventBroker", "EventIds", "Frame", "Subscription", "sse_frame"]

#: Sent on an idle stream so proxies keep it open and clients notice a dead one.
HEARTBEAT: Final = b": heartbeat\n\n"


def sse_frame(event_id: int, data: bytes) -> bytes:
    """One event as two SSE blocks: ``data:`` holding only the single-line JSON, then an ``id:``-only
    block.

    Clients that split on blank lines and keep blocks that start with ``data:`` (the seed
    system's web client) read the JSON whole; a standard ``EventSource`` dispatches the data block
    and takes the id from the next block, which sets its last event id without dispatching
    anything, so it resumes with ``Last-Event-ID`` after this event. The id follows the data (not
    the other way round) so that a stream cut between the two blocks resumes with the event sent
    again rather than lost (the JSON carries the id too, as ``id``). Both blocks are written in one
    piece."""
    return b"data: %s\n\nid: %d\n\n" % (data, event_id)


class EventIds:
    """Monotonic event ids: microseconds since the epoch at start-up, then +1 per event."""

    def __init__(self, floor: int = 0) -> None:
        self._last = max(int(time.time() * 1_000_000), floor)

    def bump_floor(self, floor: int) -> None:
        """Never hand out an id at or below ``floor`` (an id already stored)."""
        self._last = max(self._last, floor)

    def next(self) -> int:
        """A fresh id, larger than every id handed out before."""
        self._last += 1
        return self._last


@dataclass(frozen=True)
class Frame:
    """An encoded event of one job."""

    id: int
    data: bytes
    terminal: bool


@dataclass(eq=False)
class Subscription:
    """One listener's queue of frames; ``None`` in the queue means "stream over, reconnect"."""

    queue: asyncio.Queue[Frame | None]


@dataclass
class _Channel:
    #: Frames after ``baseline`` are all in ``history``; earlier ones are only summarised.
    baseline: int
    history: deque[Frame]
    subscribers: set[Subscription] = field(default_factory=set)
    latest: int = 0
    closed: bool = False


class EventBroker:
    """Per-job channels of encoded frames.

    A channel is opened when a job becomes active in this process (``baseline`` is the id of its
    last change stored before that), receives every frame, and is dropped a while after the job's
    terminal frame once nobody listens.
    """

    def __init__(self, *, history: int = 512, max_pending: int = 4096, linger_s: float = 60.0) -> None:
        self._history = history
        self._max_pending = max_pending
        self._linger_s = linger_s
        self._channels: dict[str, _Channel] = {}

    def open(self, task_id: str, baseline: int) -> None:
        """Start keeping history for ``task_id``; frames up to ``baseline`` are not kept."""
        if task_id not in self._channels:
            self._channels[task_id] = _Channel(baseline=baseline, history=deque(), latest=baseline)

    def publish(self, task_id: str, frame: Frame) -> None:
        """Record ``frame`` and hand it to every subscriber of ``task_id``."""
        channel = self._channels.get(task_id)
        if channel is None:
            return
        if len(channel.history) >= self._history:
            channel.baseline = channel.history.popleft().id
        channel.history.append(frame)
        channel.latest = max(channel.latest, frame.id)
        for sub in list(channel.subscribers):
            try:
                sub.queue.put_nowait(frame)
            except asyncio.QueueFull:
                # A listener this far behind is cut off; it resumes from its Last-Event-ID.
                self._evict(channel, sub)
        if frame.terminal:
            channel.closed = True
            asyncio.get_running_loop().call_later(self._linger_s, self._drop_if_idle, task_id)

    def _evict(self, channel: _Channel, sub: Subscription) -> None:
        channel.subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def _drop_if_idle(self, task_id: str) -> None:
        channel = self._channels.get(task_id)
        if channel is not None and channel.closed and not channel.subscribers:
            del self._channels[task_id]

    def subscribe(self, task_id: str) -> Subscription:
        """A new listener of ``task_id``'s future frames (call :meth:`unsubscribe` when done)."""
        sub = Subscription(asyncio.Queue(self._max_pending))
        channel = self._channels.get(task_id)
        if channel is not None:
            channel.subscribers.add(sub)
        return sub

    def unsubscribe(self, task_id: str, sub: Subscription) -> None:
        """Stop delivering to ``sub``."""
        channel = self._channels.get(task_id)
        if channel is not None:
            channel.subscribers.discard(sub)
            if channel.closed and not channel.subscribers:
                asyncio.get_running_loop().call_later(self._linger_s, self._drop_if_idle, task_id)

    def replay(self, task_id: str, last_id: int) -> list[Frame] | None:
        """The frames after ``last_id`` if the history still holds all of them, else ``None``."""
        channel = self._channels.get(task_id)
        if channel is None or last_id < channel.baseline:
            return None
        return [frame for frame in channel.history if frame.id > last_id]

    def latest(self, task_id: str) -> int:
        """The id of the newest frame published for ``task_id`` in this process (0 if none)."""
        channel = self._channels.get(task_id)
        return 0 if channel is None else channel.latest

    def has_subscribers(self, task_id: str) -> bool:
        """Whether anybody listens to ``task_id`` now."""
        channel = self._channels.get(task_id)
        return bool(channel and channel.subscribers)

    def forget(self, task_id: str) -> None:
        """Drop ``task_id``'s channel (the job expired)."""
        self._channels.pop(task_id, None)

    def subscriber_count(self) -> int:
        """Listeners over every job (for health and tests)."""
        return sum(len(c.subscribers) for c in self._channels.values())
