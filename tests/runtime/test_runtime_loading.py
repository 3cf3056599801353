"""The one background-load helper: loads once in its own thread, 503 (with Retry-After) until ready."""

from __future__ import annotations

import threading

import pytest

from retouch.runtime.loading import BackgroundLoad
from retouch.runtime.problems import ProblemError


def test_loading_then_ready_and_loaded_once() -> None:
    gate, calls = threading.Event(), []

    def load() -> None:
        calls.append(1)
        gate.wait(10)

    loader = BackgroundLoad(load, what="the test engine")
    loader.start()
    loader.start()
    with pytest.raises(ProblemError) as caught:
        loader.check_ready()
    assert caught.value.status == 503 and "the test engine is still loading" in caught.value.detail
    assert caught.value.headers.get("Retry-After") == "5"
    assert loader.state == "loading" and not loader.finished
    gate.set()
    assert loader.wait(10)
    loader.run()  # a later blocking call does not load again
    assert loader.state == "ready" and calls == [1]
    loader.check_ready()


def test_a_failed_load_is_reported_not_raised() -> None:
    def load() -> None:
        raise RuntimeError("no weights")

    loader = BackgroundLoad(load, what="the test engine")
    loader.run()
    assert loader.state == "failed" and loader.error == "RuntimeError: no weights"
    with pytest.raises(ProblemError) as caught:
        loader.check_ready()
    assert caught.value.status == 503 and "failed to load: RuntimeError: no weights" in caught.value.detail
