"""Load in the background, 503 until ready: what a service with a model does at start-up.

A :class:`BackgroundLoad` runs a blocking ``load`` once, in a daemon thread of its own
(:func:`~retouch.runtime.concurrency.start_thread`: a model load takes seconds to minutes and must
not hold one of the request workers), and remembers how it ended. Requests either wait for it (:meth:`BackgroundLoad.wait`, the generation runner) or are
refused with a 503 and ``Retry-After`` while it runs (:meth:`BackgroundLoad.check_ready`, the
segmentation service); health reports :attr:`BackgroundLoad.state`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from retouch.runtime.concurrency import start_thread
from retouch.runtime.problems import ProblemError

__all__ = ["BackgroundLoad", "LoadState"]

#: ``loading`` until ``load`` returns (``ready``) or raises (``failed``).
LoadState = Literal["loading", "ready", "failed"]

log = logging.getLogger("retouch.runtime")


class BackgroundLoad:
    """``load`` run once, in the background; ``what`` names it in messages ("the grabcut engine")."""

    def __init__(self, load: Callable[[], None], *, what: str, thread_name: str = "retouch-load") -> None:
        self._load = load
        self.what = what
        self.thread_name = thread_name
        self.state: LoadState = "loading"
        #: ``Type: message`` of what made the load fail.
        self.error: str | None = None
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    def run(self) -> None:
        """Load now, in this thread (once: later calls wait for the first); never raises."""
        with self._lock:
            first = not self._started
            self._started = True
        if not first:
            self._done.wait()
            return
        began = time.perf_counter()
        try:
            self._load()
        except Exception as exc:
            log.exception("loading %s failed", self.what)
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
        else:
            self.state = "ready"
            log.info("%s ready in %.1f s", self.what, time.perf_counter() - began)
        finally:
            self._done.set()

    def start(self) -> None:
        """Start :meth:`run` in a daemon thread, once."""
        with self._lock:
            if self._started:
                return
        start_thread(self.run, name=self.thread_name)

    @property
    def finished(self) -> bool:
        """Whether the load has ended (ready or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load has ended (ready or failed); ``False`` on timeout."""
        return self._done.wait(timeout)

    def check_ready(self) -> None:
        """Return if loaded; otherwise a 503 saying why (with ``Retry-After`` while loading)."""
        if self.state == "loading":
            raise ProblemError(503, f"{self.what} is still loading", headers={"Retry-After": "5"})
        if self.state == "failed":
            raise ProblemError(503, f"{self.what} failed to load: {self.error}")
