"""The seed system's web client as CLIENTS.md describes it, ported to Python for the compat tests:
the requests exactly as it builds them, and its readers exactly as it reads the answers. It sends
no ``Authorization`` header and no cookies; in the browser it calls from its own origin, so every
request carries ``Origin`` (its server's health check does not). It does not use our SDK.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

#: The origin the client's pages are served from in these tests.
ORIGIN = "http://seed-client.test:3000"
#: The test deployment's API key (keyed callers use it; the seed client has none).
API_KEY = "compat-key-0123456789"

#: Status words the client knows (CLIENTS.md, Progress).
KNOWN_STATUSES = {"queued", "loading_pipeline", "processing", "done", "error", "cancelled"}


def b64(data: bytes) -> str:
    """Raw base64 (no ``data:`` prefix), as the client sends most images."""
    return base64.b64encode(data).decode()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def data_url(image: Image.Image) -> str:
    """``data:image/png;base64,...``, as the main canvas sends its picture to smart mask."""
    return "data:image/png;base64," + b64(png(image))


def letterbox(image: Image.Image, side: int = 1024) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The picture fitted into a ``side`` square with black padding, as the browser does it by
    default; also the box the picture occupies."""
    scale = side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    square = Image.new("RGB", (side, side), (0, 0, 0))
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    square.paste(image.convert("RGB").resize(size, Image.Resampling.LANCZOS), (left, top))
    return square, (left, top, left + size[0], top + size[1])


def rgba_mask(mask: Image.Image) -> str:
    """The client's mask: an RGBA PNG, white on black (opaque), raw base64."""
    rgba = Image.merge("RGBA", [mask.convert("L")] * 3 + [Image.new("L", mask.size, 255)])
    return b64(png(rgba))


def generation_body(
    task_type: str,
    input_image: str,
    *,
    prompt: str = "",
    mask: str | None = None,
    reference_image: str | None = None,
    reference_mask_r: str | None = None,
    negative_prompt: str | None = None,
    input_quality: str = "resized",
    mask_tool_type: str = "brush",
) -> dict[str, Any]:
    """``POST /api/generate/async``'s body as the client builds it (CLIENTS.md, Generation)."""
    body: dict[str, Any] = {
        "prompt": prompt.strip(),
        "input_image": input_image,
        "num_inference_steps": 15,
        "guidance_scale": 2,
        "true_cfg_scale": 2,
        "seed": 42,
        "task_type": task_type,
        "input_quality": input_quality,
        "mask_tool_type": mask_tool_type,
        "enable_mae_refinement": True,
        "enable_debug": False,
    }
    if negative_prompt is not None:
        body["negative_prompt"] = negative_prompt
    if task_type == "white-balance":
        body["mask_image"] = ""
    else:
        assert mask is not None
        body["conditional_images"] = [mask]
        body["mask_image"] = mask
    if reference_image is not None:
        body["reference_image"] = reference_image
        if reference_mask_r is not None:
            body["reference_mask_R"] = reference_mask_r
    return body


def parse_blocks(buffer: str) -> tuple[list[dict[str, Any]], str]:
    """The client's stream parser on ``buffer``: cut at each ``\\n\\n``, trim each block, keep the
    blocks that START with ``data:``, strip ``data:`` and leading spaces, ``JSON.parse`` the rest
    (the whole rest: the block must hold nothing after the JSON), drop what fails to parse.
    Returns the events and the unfinished tail."""
    events: list[dict[str, Any]] = []
    while "\n\n" in buffer:
        block, buffer = buffer.split("\n\n", 1)
        block = block.strip()
        if not block.startswith("data:"):
            continue
        text = block[len("data:") :].lstrip(" ")
        try:
            event = json.loads(text)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events, buffer


@dataclass
class StreamReading:
    """What the client's reader saw of one stream."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: Set when the stream ended by itself (the server closed it), not by ``done`` or an abort.
    ended_by_server: bool = False
    aborted: bool = False
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def statuses(self) -> list[str]:
        return [str(event.get("status")) for event in self.events]

    def progress_lines(self) -> list[str]:
        """What the client shows per event: "step current/total" while processing with both."""
        lines = []
        for event in self.events:
            status = event.get("status")
            current, total = event.get("current_step"), event.get("total_steps")
            if status == "processing" and current is not None and total is not None:
                lines.append(f"step {current}/{total}")
            elif status in ("queued", "loading_pipeline") or event.get("loading_message"):
                lines.append(f"loading: {event.get('loading_message') or status}")
        return lines


class SeedClient:
    """The client's API layer against ``base_url`` (the gateway), from ``local_address``."""

    def __init__(self, base_url: str, *, origin: str | None = ORIGIN, local_address: str = "127.0.0.1") -> None:
        headers = {"Origin": origin} if origin is not None else {}
        transport = httpx.HTTPTransport(local_address=local_address)
        self.http = httpx.Client(base_url=base_url, headers=headers, transport=transport, timeout=120)
        self.base_url = base_url
        self.origin = origin
        self.local_address = local_address

    def close(self) -> None:
        self.http.close()

    # -- the calls ------------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, bool]]:
        """``GET /api/system/health`` from its server (no origin): online, and each service's flag."""
        transport = httpx.HTTPTransport(local_address=self.local_address)
        with httpx.Client(base_url=self.base_url, transport=transport, timeout=30) as server:
            response = server.get("/api/system/health")
        answer = response.json()
        services = answer.get("services", {})
        flags = {
            name: services.get(name, {}).get("status") == "healthy"
            for name in ("generation", "segmentation", "image_utils", "job_manager")
        }
        return answer.get("status") == "healthy", flags

    def smart_mask(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/smart-mask``; on success reads ``success``, ``mask_base64`` (raw base64 PNG,
        or ``mask`` in the reference editor), ``request_id``; on failure ``detail`` or ``error``."""
        response = self.http.post("/api/smart-mask", json=body)
        answer: dict[str, Any] = response.json()
        if not response.is_success or not answer.get("success"):
            raise AssertionError(f"smart mask failed: {answer.get('detail') or answer.get('error')}")
        assert isinstance(answer["request_id"], str)
        mask = answer.get("mask_base64") or answer.get("mask")
        Image.open(io.BytesIO(base64.b64decode(mask))).load()  # it adds the data: prefix and shows it
        return answer

    def extract_object(self, image: str, mask: str) -> str:
        """``POST /api/image-utils/extract-object`` with raw base64; ``extracted_image``."""
        response = self.http.post("/api/image-utils/extract-object", json={"image": image, "mask": mask})
        assert response.status_code == 200, response.text
        extracted: str = response.json()["extracted_image"]
        return extracted

    def white_balance_form(self, picture: bytes, method: str, **extra: str) -> dict[str, Any]:
        """The multipart ``POST /api/image-utils/white-balance`` of its API layer."""
        files = {"file": ("photo.png", picture, "image/png")}
        response = self.http.post("/api/image-utils/white-balance", data={"method": method, **extra}, files=files)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return {key: answer[key] for key in ("success", "original_image", "corrected_image", "method_used")}

    def submit(self, body: dict[str, Any]) -> str:
        """``POST /api/generate/async``: reads ``task_id`` and checks ``status == "queued"``; a
        non-2xx is shown as ``HTTP <status>: <raw body>``."""
        response = self.http.post("/api/generate/async", json=body)
        if not response.is_success:
            raise AssertionError(f"HTTP {response.status_code}: {response.text}")
        answer = response.json()
        assert answer["status"] == "queued"
        task_id: str = answer["task_id"]
        return task_id

    def read_stream(
        self, task_id: str, reading: StreamReading, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> StreamReading:
        """The progress reader: until ``done``, the end of the stream, or an abort."""
        try:
            with self.http.stream(
                "GET", f"/api/generate/stream/{task_id}", headers={"Accept": "text/event-stream"}, timeout=300
            ) as response:
                assert response.status_code == 200, response.read()
                buffer = ""
                for chunk in response.iter_text():
                    if reading.aborted:
                        return reading
                    events, buffer = parse_blocks(buffer + chunk)
                    for event in events:
                        reading.events.append(event)
                        if on_event is not None:
                            on_event(event)
                        if event.get("status") == "done":
                            return reading
                if not reading.aborted:
                    reading.ended_by_server = True
        finally:
            reading.finished.set()
        return reading

    def results(self, task_id: str) -> tuple[httpx.Response, httpx.Response]:
        """After the stream: ``result-image`` (bytes) and ``result`` (JSON), in parallel."""
        with ThreadPoolExecutor(2) as pool:
            image = pool.submit(self.http.get, f"/api/generate/result-image/{task_id}")
            result = pool.submit(self.http.get, f"/api/generate/result/{task_id}")
            return image.result(), result.result()

    def poll_status(self, task_id: str, attempts: int = 600) -> Iterator[dict[str, Any]]:
        """The fallback path: ``GET /api/generate/status/{id}`` until done / error / cancelled."""
        import time

        for _ in range(attempts):
            answer: dict[str, Any] = self.http.get(f"/api/generate/status/{task_id}").json()
            yield answer
            if answer.get("status") in ("done", "error", "cancelled"):
                return
            time.sleep(0.2)
        raise AssertionError(f"task {task_id} never finished")

    def cancel(self, task_id: str) -> dict[str, Any]:
        """``POST /api/generate/async/cancel/{id}`` with ``Content-Type: application/json`` and no
        body; the answer must be JSON."""
        response = self.http.post(
            f"/api/generate/async/cancel/{task_id}", headers={"Content-Type": "application/json"}, content=b""
        )
        answer: dict[str, Any] = response.json()
        answer["_http_status"] = response.status_code
        return answer

    def edit(self, body: dict[str, Any]) -> tuple[str, StreamReading, httpx.Response, httpx.Response]:
        """A whole edit as the page runs it: submit, read the stream, fetch the results."""
        task_id = self.submit(body)
        reading = self.read_stream(task_id, StreamReading())
        image, result = self.results(task_id)
        return task_id, reading, image, result
