"""Helpers shared by the segmentation tests (settings builders, the app-factory type, polling)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from retouch.segmentation.settings import SegmentationSettings

#: The tests' pictures are 256x192; FastSAM runs at that size too.
FASTSAM_IMGSZ = 256


def grabcut_settings(**overrides: Any) -> SegmentationSettings:
    """GrabCut settings with small image limits (the limit tests stay cheap)."""
    values: dict[str, Any] = {"log_json": False, "max_image_side": 2048, "max_image_pixels": 2_000_000}
    values.update(overrides)
    return SegmentationSettings(**values)


def fastsam_settings(weights: Path, **overrides: Any) -> SegmentationSettings:
    """FastSAM on the CPU with a confidence low enough for random weights to yield candidates."""
    values: dict[str, Any] = {
        "log_json": False,
        "engine": "fastsam",
        "fastsam_weights": weights,
        "device": "cpu",
        "fastsam_imgsz": FASTSAM_IMGSZ,
        "fastsam_conf": 0.001,
        "fastsam_max_det": 100,
    }
    values.update(overrides)
    return SegmentationSettings(**values)


MakeApp = Callable[..., Awaitable[tuple[Starlette, httpx.AsyncClient]]]


async def wait_until_settled(client: httpx.AsyncClient, timeout: float = 120.0) -> dict[str, Any]:
    """Poll ``/api/health`` until the engine is no longer loading; the last report."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = (await client.get("/api/health")).json()
        if report.get("status") != "loading":
            return report
        if time.monotonic() > deadline:
            raise TimeoutError("the segmentation engine did not finish loading")
        await asyncio.sleep(0.02)
