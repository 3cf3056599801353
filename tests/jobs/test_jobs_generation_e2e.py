"""The jobs service against the real generation service (a process on loopback): the classic
engine for a removal, and the tiny Qwen pipeline for a run long enough to cancel for real."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jobs_helpers import JobsFactory, b64, read_sse, serve_subprocess, wait_healthy, wait_status, wait_until
from loopback import free_port
from PIL import Image

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SIZE = (96, 72)
HOLE = (36, 24, 60, 48)
#: The generation service grows a brush mask, then composites with a further margin.
MARGIN = 16


def noise_png() -> bytes:
    rng = random.Random(5)
    image = Image.frombytes("RGB", SIZE, bytes(rng.randrange(256) for _ in range(SIZE[0] * SIZE[1] * 3)))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def hole_mask() -> bytes:
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, HOLE)
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return buf.getvalue()


def generation_service(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve_subprocess(
        {"RETOUCH_DATA_DIR": str(tmp_path / "gen"), "RETOUCH_LOG_LEVEL": "WARNING", **env},
        port,
        factory="retouch.generation.app:create_app",
    )
    try:
        wait_healthy(url, proc, timeout=120)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def classic_url(tmp_path: Path) -> Iterator[str]:
    yield from generation_service(tmp_path, {"RETOUCH_GENERATION_ENGINE": "classic"})


def test_a_removal_on_the_classic_engine(jobs_server: JobsFactory, classic_url: str) -> None:
    server = jobs_server(generation_service_url=classic_url)
    source = noise_png()
    payload = {"prompt": "", "task_type": "removal", "input_image": b64(source), "mask": b64(hole_mask())}
    task_id = httpx.post(f"{server.url}/api/generate/async", json=payload).json()["task_id"]

    streams: list[list[dict[str, Any]]] = []
    readers = [threading.Thread(target=lambda: streams.append(read_sse(server.url, task_id))) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(60)
    for blocks in streams:
        events = [json.loads(b["data"]) for b in blocks if "data" in b]
        assert [e["type"] for e in events].count("done") == 1 and events[-1]["type"] == "done"
        assert all("id" in b for b in blocks if "data" in b)

    result = httpx.get(f"{server.url}/api/generate/result/{task_id}").json()
    assert (result["width"], result["height"]) == SIZE
    edited = Image.open(io.BytesIO(base64.b64decode(result["image"]))).convert("RGB")
    original = Image.open(io.BytesIO(source)).convert("RGB")
    x0, y0, x1, y1 = HOLE
    changed_inside = outside_differs = 0
    for y in range(SIZE[1]):
        for x in range(SIZE[0]):
            same = edited.getpixel((x, y)) == original.getpixel((x, y))
            if x0 <= x < x1 and y0 <= y < y1:
                changed_inside += not same
            elif x < x0 - MARGIN or x >= x1 + MARGIN or y < y0 - MARGIN or y >= y1 + MARGIN:
                outside_differs += not same
    assert outside_differs == 0, "pixels away from the mask are the input's, bit for bit"
    assert changed_inside > 0, "the hole was filled"

    for fmt, magic in (("png", b"\x89PNG"), ("webp", b"RIFF")):
        image = httpx.get(f"{server.url}/api/generate/result-image/{task_id}", params={"format": fmt})
        assert image.headers["content-type"] == f"image/{fmt}" and image.content.startswith(magic)

    last = max(int(b["id"]) for b in streams[0] if "id" in b)
    assert [b for b in read_sse(server.url, task_id, headers={"Last-Event-ID": str(last)}) if "data" in b] == []


@pytest.fixture(scope="module")
def tiny_qwen_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("tiny_qwen", ROOT / "tests" / "generation" / "tiny_qwen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    env: dict[str, str] = module.build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))
    return env


@pytest.fixture
def qwen_url(tmp_path: Path, tiny_qwen_env: dict[str, str]) -> Iterator[str]:
    yield from generation_service(tmp_path, tiny_qwen_env)


@pytest.mark.slow
def test_cancel_stops_a_real_engine_between_steps(jobs_server: JobsFactory, qwen_url: str) -> None:
    url = qwen_url
    server = jobs_server(generation_service_url=url, watchdog_s=300)
    payload = {
        "prompt": "remove it",
        "task_type": "removal",
        "input_image": b64(noise_png()),
        "mask": b64(hole_mask()),
        "num_inference_steps": 100,
        "seed": 1,
    }
    task_id = httpx.post(f"{server.url}/api/generate/async", json=payload).json()["task_id"]
    cancelled: list[httpx.Response] = []
    with httpx.stream("GET", f"{server.url}/api/generate/stream/{task_id}", timeout=300) as response:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if not cancelled and event["stage"] == "denoising" and (event["current_step"] or 0) >= 2:
                cancelled.append(httpx.post(f"{server.url}/api/generate/async/cancel/{task_id}", timeout=60))
    assert cancelled and cancelled[0].status_code == 200
    final = wait_status(server.url, task_id, "cancelled", "done", "error")
    assert final["status"] == "cancelled"
    assert final["total_steps"] == 100 and final["current_step"] < 100, "the engine stopped early"
    wait_until(lambda: httpx.get(f"{url}/api/health").status_code == 200, what="the generation service")
