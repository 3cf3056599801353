"""Helpers of the generation tests: pictures, apps in-process and on a loopback port, a slow fake
engine for cancellation. (A module of its own: test modules import it; conftest only holds fixtures.)"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
from PIL import Image
from starlette.applications import Starlette

from retouch.generation.engines import CancelCheck, EditResult, StageCallback, check_cancelled
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import EditJob
from retouch.sdk import AsyncClient
from retouch.sdk.codec import Base64Bytes


def png(image: Image.Image) -> Base64Bytes:
    """``image`` as PNG bytes typed for a contract field."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return Base64Bytes(buf.getvalue())


def decode(data: bytes) -> Image.Image:
    """A PNG from a result, loaded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """A mode-L mask, white inside ``box`` (left, top, right, bottom)."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def smooth_background(width: int, height: int) -> np.ndarray:
    """A smooth, slowly varying RGB background (uint8)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 70 + 90 * x / width + 10 * np.sin(y / height * np.pi)
    g = 110 + 50 * y / height
    b = 170 - 40 * x / width + 20 * y / height
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def fast_settings(**overrides: Any) -> GenerationSettings:
    """Settings for in-process tests (plain-text logs)."""
    return GenerationSettings(log_json=False, **overrides)


@contextlib.asynccontextmanager
async def serve_in_process(app: Starlette) -> AsyncIterator[AsyncClient]:
    """An SDK client bound to ``app`` through ``httpx.ASGITransport``, with the app's lifespan run."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient("http://generation.test", transport=transport, max_retries=0) as client,
    ):
        yield client


class SlowEngine:
    """A stand-in engine with many short steps, to cancel runs in the middle (records what it saw)."""

    name = "classic"
    device = "cpu"

    def __init__(self, steps: int = 400, step_s: float = 0.01) -> None:
        self.steps = steps
        self.step_s = step_s
        self.started = threading.Event()
        self.stopped_by_cancel = threading.Event()
        self.steps_done = 0

    def load(self) -> None:
        return None

    def check(self, job: EditJob) -> None:
        return None

    def edit(self, job: EditJob, on_progress: StageCallback, cancelled: CancelCheck) -> EditResult:
        self.started.set()
        try:
            for step in range(self.steps):
                time.sleep(self.step_s)
                self.steps_done = step + 1
                on_progress("denoising", step + 1, self.steps)
                check_cancelled(cancelled)
        except BaseException:
            self.stopped_by_cancel.set()
            raise
        return EditResult(image=job.image.copy())
