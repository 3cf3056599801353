"""A long job on the real qwen engine (a tiny model built offline, many steps): the editor shows
its queue position, stage, step counter and time left from the event stream, and Cancel really
stops it."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from web_editor import API_KEY, Scene, start_stack

from retouch.local import Stack

pytestmark = [pytest.mark.web, pytest.mark.slow]

TINY_QWEN = Path(__file__).resolve().parents[1] / "generation" / "tiny_qwen.py"
STEPS = 100


@pytest.fixture(scope="module")
def qwen_stack(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Gateway, jobs and a generation service running the tiny qwen model; a larger working
    frame than the model's tests use, so that 100 steps take long enough to cancel."""
    spec = importlib.util.spec_from_file_location("tiny_qwen", TINY_QWEN)
    assert spec is not None and spec.loader is not None, f"{TINY_QWEN} is missing"
    tiny_qwen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny_qwen)
    env = tiny_qwen.build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))
    env["RETOUCH_GENERATION_WORKING_SIZE"] = "256"
    stack = start_stack(tmp_path_factory.mktemp("qwen-stack"), env=env, only=("generation", "job_manager"))
    yield stack
    stack.stop()


def submit_blocker(stack: Stack, scene: Scene) -> tuple[httpx.Client, str]:
    """A long job submitted through the API, running: the page's job has to queue behind it."""
    mask = Image.new("L", (scene.width, scene.height), 0)
    mask.paste(255, (10, 10, 60, 60))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    # No keep-alive: the client sits idle while the page works, and the server closes idle
    # connections (RETOUCH_HEADER_TIMEOUT); reusing one just as it closes is a client-side race.
    client = httpx.Client(
        base_url=stack.gateway_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    body = {
        "prompt": "remove",
        "task_type": "removal",
        "input_image": base64.b64encode(scene.path.read_bytes()).decode(),
        "mask": base64.b64encode(buffer.getvalue()).decode(),
        "num_inference_steps": STEPS,
    }
    task_id = str(client.post("/api/generate/async", json=body).json()["task_id"])
    deadline = time.monotonic() + 240
    while client.get(f"/api/generate/status/{task_id}").json()["status"] != "processing":
        assert time.monotonic() < deadline, "the blocking job never started"
        time.sleep(0.2)
    return client, task_id


def test_a_long_job_shows_its_queue_position_progress_and_cancels(
    qwen_stack: Stack, open_editor: Any, scene: Scene
) -> None:
    editor = open_editor(qwen_stack)
    page = editor.page
    editor.open_image(scene.path)
    page.keyboard.press("x")
    editor.drag_image([(scene.cx - scene.rx, scene.cy - scene.ry), (scene.cx + scene.rx, scene.cy + scene.ry)])
    editor.wait_history(1)
    page.click("#advanced summary")
    page.fill("#steps", str(STEPS))
    submitted: list[str] = []
    page.on(
        "response",
        lambda r: (
            submitted.append(r.json()["task_id"]) if r.url.endswith("/api/generate/async") and r.status == 202 else None
        ),
    )
    client, blocker = submit_blocker(qwen_stack, scene)
    editor.run_job()
    assert page.is_visible("#cancel")
    # One job runs per engine: this one waits first, next in line.
    page.wait_for_function("() => document.getElementById('job-status').textContent === 'Queued: next in line'")
    editor.shot("queued")
    client.post(f"/api/generate/async/cancel/{blocker}").raise_for_status()
    # The stream drives the step counter and the time estimate while the model denoises.
    page.wait_for_function(
        """(total) => { const m = /^Step (\\d+) of (\\d+)$/.exec(document.getElementById('job-steps').textContent);
             return m && Number(m[2]) === total && Number(m[1]) >= 2
                    && /about .* left/.test(document.getElementById('job-eta').textContent); }""",
        arg=STEPS,
        timeout=240_000,
    )
    assert page.inner_text("#job-status") == "Generating"
    bar = float(page.evaluate("() => document.getElementById('job-progress').value"))
    assert 0 < bar < 1
    editor.shot("processing")
    page.click("#cancel")
    editor.wait_job("cancelled", timeout=60_000)
    editor.shot("cancelled")
    assert page.inner_text("#job-status") == "Cancelled"
    assert page.is_hidden("#cancel")
    assert editor.error_text() == ""
    assert page.locator("#history-list li").count() == 0
    # The server agrees: the job ended cancelled, well before its last step.
    status = client.get(f"/api/generate/status/{submitted[0]}").json()
    assert status["status"] == "cancelled"
    assert (status["current_step"] or 0) < STEPS
    steps = re.match(r"Step (\d+) of", page.inner_text("#job-steps"))
    assert steps is not None and int(steps.group(1)) < STEPS
    client.close()
