"""Engines for tests that need to hold a request at a known stage: the real GrabCut engine behind gates."""

from __future__ import annotations

import threading

import numpy as np

from retouch.runtime.cancel import CancelToken
from retouch.segmentation.engines import PreparedImage, Segment
from retouch.segmentation.engines.grabcut import GrabCutEngine
from retouch.segmentation.prompts import Prompts
from retouch.segmentation.settings import SegmentationSettings


class Gate:
    """A point a worker thread stops at until the test opens it."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()

    def pass_through(self) -> None:
        self.reached.set()
        if not self.opened.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")


class GatedEngine(GrabCutEngine):
    """GrabCut whose ``load``, ``prepare`` or ``segment`` waits at a gate (``None``: no gate)."""

    def __init__(
        self,
        *,
        load: Gate | None = None,
        prepare: Gate | None = None,
        segment: Gate | None = None,
        fail_load: str | None = None,
    ) -> None:
        super().__init__(SegmentationSettings())
        self.load_gate, self.prepare_gate, self.segment_gate = load, prepare, segment
        self.fail_load = fail_load
        self.prepared = 0

    def load(self) -> None:
        if self.load_gate is not None:
            self.load_gate.pass_through()
        if self.fail_load is not None:
            raise RuntimeError(self.fail_load)

    def prepare(self, image: np.ndarray) -> PreparedImage:
        self.prepared += 1
        if self.prepare_gate is not None:
            self.prepare_gate.pass_through()
        return super().prepare(image)

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        if self.segment_gate is not None:
            self.segment_gate.pass_through()
        return super().segment(prepared, prompts, cancel)
