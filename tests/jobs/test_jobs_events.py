"""The event broker: ids, history for resume, fan-out, slow listeners cut off."""

from __future__ import annotations

import asyncio

from retouch.jobs.events import EventBroker, EventIds, Frame, sse_frame


def frame(event_id: int, terminal: bool = False) -> Frame:
    return Frame(event_id, sse_frame(event_id, b'{"n":%d}' % event_id), terminal)


def test_sse_frames_are_a_data_block_then_an_id_only_block() -> None:
    # A blank-line-splitting client keeps blocks that start with data: and parses the rest whole.
    assert sse_frame(7, b'{"a":1}') == b'data: {"a":1}\n\nid: 7\n\n'


def test_event_ids_grow_across_processes_and_above_stored_ids() -> None:
    first = EventIds()
    a = first.next()
    second = EventIds()
    assert second.next() > a
    floored = EventIds(floor=10**17)
    assert floored.next() == 10**17 + 1
    floored.bump_floor(10**18)
    assert floored.next() == 10**18 + 1


async def test_replay_returns_exactly_the_later_frames_while_history_lasts() -> None:
    broker = EventBroker(history=3)
    broker.open("t", baseline=0)
    for i in (10, 11, 12):
        broker.publish("t", frame(i))
    assert [f.id for f in broker.replay("t", 10) or []] == [11, 12]
    assert broker.replay("t", 12) == []
    broker.publish("t", frame(13))  # drops 10: resuming from before 10 is no longer exact
    assert broker.replay("t", 9) is None
    assert [f.id for f in broker.replay("t", 10) or []] == [11, 12, 13]
    assert broker.latest("t") == 13
    assert broker.replay("unknown", 0) is None


async def test_a_recovered_channel_only_covers_what_it_saw() -> None:
    broker = EventBroker()
    broker.open("t", baseline=100)
    broker.publish("t", frame(200))
    assert broker.replay("t", 50) is None, "events before the restart are not in this process"
    assert [f.id for f in broker.replay("t", 100) or []] == [200]


async def test_every_subscriber_gets_every_frame() -> None:
    broker = EventBroker()
    broker.open("t", baseline=0)
    subs = [broker.subscribe("t") for _ in range(200)]
    for i in range(1, 6):
        broker.publish("t", frame(i, terminal=i == 5))
    for sub in subs:
        assert [sub.queue.get_nowait().id for _ in range(5)] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert broker.subscriber_count() == 200 and broker.has_subscribers("t")
    for sub in subs:
        broker.unsubscribe("t", sub)
    assert not broker.has_subscribers("t")


async def test_a_listener_that_falls_too_far_behind_is_cut_off() -> None:
    broker = EventBroker(max_pending=2)
    broker.open("t", baseline=0)
    slow = broker.subscribe("t")
    for i in range(1, 4):
        broker.publish("t", frame(i))
    assert slow.queue.get_nowait() is None, "told to reconnect"
    assert not broker.has_subscribers("t")


async def test_a_finished_channel_is_dropped_after_it_lingers() -> None:
    broker = EventBroker(linger_s=0.01)
    broker.open("t", baseline=0)
    broker.publish("t", frame(1, terminal=True))
    await asyncio.sleep(0.05)
    assert broker.replay("t", 0) is None and broker.latest("t") == 0


async def test_publishing_to_an_unopened_job_is_a_no_op() -> None:
    broker = EventBroker()
    sub = broker.subscribe("t")
    broker.publish("t", frame(1))
    assert sub.queue.empty()
