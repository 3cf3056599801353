"""Helpers of the fault tests: a real stack (generation, jobs and the gateway as processes) that
restarts what dies, small removal jobs, and polling."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from retouch.local import Stack, StackSettings

TERMINAL = {"done", "error", "cancelled"}


def _png(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def removal_body(seed: int = 0, scale: int = 1) -> dict[str, Any]:
    """A removal job (classic engine): a square on a gradient, and its mask; ``scale`` times
    64 x 48 pixels (larger runs take longer)."""
    width, height = 64 * scale, 48 * scale
    gradient = Image.linear_gradient("L").resize((width, height))
    scene = Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height)), gradient)
    )
    scene = Image.eval(scene, lambda v: (v + seed) % 256)
    box = [20 * scale, 12 * scale, 44 * scale - 1, 36 * scale - 1]
    ImageDraw.Draw(scene).rectangle(box, fill=(220, 30, 30))
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return {"prompt": "", "task_type": "removal", "input_image": _png(scene), "mask": _png(mask), "seed": seed}


def start_stack(data_dir: Path, log_path: Path, **env: str) -> Stack:
    """Generation, jobs and the gateway, supervised (a process that dies is restarted)."""
    log = log_path.open("a")
    settings = StackSettings(
        port=0,
        data_dir=data_dir,
        only=["generation", "job_manager"],
        api_keys="",
        env={"RETOUCH_JOBS_ENGINE_RETRY_MAX_SECONDS": "1", **env},
        log_stream=log,
        startup_timeout_s=120.0,
        restart=True,
        restart_delay_s=1.0,
    )
    stack = Stack(settings)
    try:
        stack.start()
    except Exception as exc:
        stack.stop()
        raise RuntimeError(f"{exc}\n(full logs: {log_path})") from exc
    stack.supervise_in_background()
    return stack


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds (``AssertionError`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def submit(gateway: str, body: dict[str, Any]) -> str:
    """``POST /api/generate/async``; the task id (it must be accepted)."""
    response = httpx.post(f"{gateway}/api/generate/async", json=body, timeout=30)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def status(gateway: str, task_id: str) -> dict[str, Any]:
    """``GET /api/generate/status/{task_id}``."""
    response = httpx.get(f"{gateway}/api/generate/status/{task_id}", timeout=30)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def wait_all_terminal(gateway: str, task_ids: list[str], timeout: float = 60.0) -> list[dict[str, Any]]:
    """The final status of every job, once each is finished."""
    finals: dict[str, dict[str, Any]] = {}

    def finished() -> bool:
        for task_id in task_ids:
            if task_id not in finals:
                current = status(gateway, task_id)
                if current["status"] in TERMINAL:
                    finals[task_id] = current
        return len(finals) == len(task_ids)

    wait_until(finished, timeout, f"{len(task_ids)} jobs to finish")
    return [finals[task_id] for task_id in task_ids]


def system_health(gateway: str) -> dict[str, Any]:
    """``GET /api/system/health``."""
    data: dict[str, Any] = httpx.get(f"{gateway}/api/system/health", timeout=30).json()
    return data
