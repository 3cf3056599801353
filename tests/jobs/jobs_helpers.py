"""Helpers of the jobs tests: loopback servers in threads or processes, small images, request
bodies, polling, and an SSE reader."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from PIL import Image

HERE = Path(__file__).parent


class ServerThread:
    """Serves an ASGI app on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def png(width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


def mask_png(width: int = 32, height: int = 24) -> bytes:
    image = Image.new("L", (width, height), 0)
    image.paste(255, (8, 6, 20, 16))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body(prompt: str = "", task_type: str = "removal", **fields: Any) -> dict[str, Any]:
    """A JSON request body; a removal with a mask unless told otherwise."""
    payload: dict[str, Any] = {"prompt": prompt, "input_image": b64(png()), "task_type": task_type}
    if task_type in ("removal", "insertion"):
        payload["mask"] = b64(mask_png())
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


def fake_runs(url: str) -> dict[str, Any]:
    """What the fake generation service ran (``GET /fake/runs``)."""
    data: dict[str, Any] = httpx.get(f"{url}/fake/runs").json()
    return data


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` (for state that changes in another thread or process)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def status_of(url: str, task_id: str, owner: str | None = None) -> dict[str, Any]:
    headers = {"X-Retouch-Owner": owner} if owner else {}
    response = httpx.get(f"{url}/api/generate/status/{task_id}", headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def wait_status(url: str, task_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the status route until the job is in one of ``statuses``."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal last
        last = status_of(url, task_id)
        return last["status"] in statuses

    wait_until(reached, timeout, f"task {task_id} to be {'/'.join(statuses)}")
    return last


def submit(url: str, prompt: str = "", headers: dict[str, str] | None = None, **fields: Any) -> str:
    response = httpx.post(f"{url}/api/generate/async", json=body(prompt, **fields), headers=headers or {})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def read_sse(
    url: str, task_id: str, headers: dict[str, str] | None = None, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Read a whole event stream: a list of ``{"id", "data", "comment"}`` blocks, in order. The
    ``id:``-only block that follows each ``data:`` block (API.md's framing) is folded into it, so
    every event reads as one ``{"id", "data"}``; :func:`raw_sse` gives the bytes as sent."""
    blocks: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{url}/api/generate/stream/{task_id}", headers=headers or {}, timeout=timeout
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        for line in response.iter_lines():
            if line == "":
                previous = blocks[-1] if blocks else {}
                if set(current) == {"id"} and "data" in previous and "id" not in previous:
                    previous["id"] = current["id"]
                elif current:
                    blocks.append(current)
                current = {}
                continue
            if line.startswith(":"):
                blocks.append({"comment": line[1:].strip()})
                continue
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")
    return blocks


def raw_sse(url: str, task_id: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> bytes:
    """The whole body of an event stream, as sent."""
    with httpx.stream(
        "GET", f"{url}/api/generate/stream/{task_id}", headers=headers or {}, timeout=timeout
    ) as response:
        assert response.status_code == 200, response.read()
        return response.read()


def serve_subprocess(
    env: dict[str, str], port: int, factory: str = "retouch.jobs.app:create_app"
) -> subprocess.Popen[bytes]:
    """``python -m retouch.runtime.serve <factory>`` as a real process on ``port``."""
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "retouch.runtime.serve", factory, "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"server exited with {proc.returncode}: {err[-2000:]}")
        try:
            return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout, f"{url} to be healthy")


#: The ``jobs_server`` fixture: builds a jobs service (settings overrides as keywords) on loopback.
JobsFactory = Callable[..., ServerThread]
