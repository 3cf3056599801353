"""The ways off the event loop: the shared pool, a serial worker, and a thread of its own."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from retouch.runtime.concurrency import SerialWorker, configure_workers, run_sync, start_thread


async def test_run_sync_runs_off_the_loop_and_returns_the_result() -> None:
    loop_thread = threading.current_thread()
    seen: list[threading.Thread] = []

    def work(a: int, *, b: int) -> int:
        seen.append(threading.current_thread())
        return a + b

    assert await run_sync(work, 2, b=3) == 5
    assert seen and seen[0] is not loop_thread


async def test_run_sync_raises_what_the_call_raised() -> None:
    def fail() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        await run_sync(fail)


async def test_run_sync_holds_no_more_than_the_configured_workers() -> None:
    configure_workers(2)
    try:
        running = 0
        most = 0
        lock = threading.Lock()
        release = threading.Event()

        def work() -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            release.wait(5)
            with lock:
                running -= 1

        tasks = [asyncio.ensure_future(run_sync(work)) for _ in range(5)]
        for _ in range(50):
            await asyncio.sleep(0.01)
            if running == 2:
                break
        release.set()
        await asyncio.gather(*tasks)
        assert most == 2
    finally:
        configure_workers(4)


async def test_serial_worker_keeps_one_thread_in_order() -> None:
    worker = SerialWorker("test-serial")
    try:
        threads = [await worker.run(threading.current_thread) for _ in range(3)]
        order: list[int] = []
        for i in range(5):
            await worker.run(order.append, i)
        assert len(set(threads)) == 1
        assert order == [0, 1, 2, 3, 4]
    finally:
        worker.close()


def test_start_thread_runs_in_a_named_daemon_thread() -> None:
    done = threading.Event()
    names: list[str] = []

    def work() -> None:
        names.append(threading.current_thread().name)
        done.set()

    thread = start_thread(work, name="retouch-test-long")
    assert done.wait(5)
    thread.join(5)
    assert thread.daemon
    assert names == ["retouch-test-long"]


def test_start_thread_logs_what_escapes(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise RuntimeError("boom in the background")

    with caplog.at_level(logging.ERROR, logger="retouch.runtime"):
        start_thread(fail, name="retouch-test-fail").join(5)
    assert any("retouch-test-fail" in r.getMessage() and r.exc_info for r in caplog.records)
