"""A standard ``EventSource`` in Chromium follows a job's stream (API.md: every event a ``data:``
block, its id in an ``id:``-only block) and, when the connection drops, resumes with
``Last-Event-ID`` and sees each event once.

The page reaches the gateway through a loopback TCP relay that cuts the first event-stream
connection right after its second ``id:`` block, as a flaky network would."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from skimage import data as photos

from retouch.local import Stack, StackSettings

pytestmark = pytest.mark.web

ID_BLOCK = re.compile(rb"id: \d+\n\n")


class CuttingRelay:
    """Relays loopback connections to ``target``; the first one that asks for an event stream is
    closed right after ``cut_after`` ``id:`` blocks went through. Records each stream request."""

    def __init__(self, target: tuple[str, int], cut_after: int = 2) -> None:
        self.target = target
        self.cut_after = cut_after
        self.stream_requests: list[bytes] = []
        self._cut_done = False
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                downstream, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(downstream,), daemon=True).start()

    def _serve(self, downstream: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        # Connections are kept alive: any request on one may be the stream, so each is looked at.
        armed = threading.Event()
        threading.Thread(target=self._requests, args=(downstream, upstream, armed), daemon=True).start()
        seen = 0
        try:
            while chunk := upstream.recv(65536):
                if armed.is_set():
                    ends = [m.end() for m in ID_BLOCK.finditer(chunk)]
                    if seen + len(ends) >= self.cut_after:
                        downstream.sendall(chunk[: ends[self.cut_after - seen - 1]])
                        break
                    seen += len(ends)
                downstream.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (downstream, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _requests(self, downstream: socket.socket, upstream: socket.socket, armed: threading.Event) -> None:
        # A request head may arrive in several pieces (a loaded machine): it is looked at whole.
        head = b""
        with contextlib.suppress(OSError):
            while chunk := downstream.recv(65536):
                head += chunk
                while b"\r\n\r\n" in head:
                    request, head = head.split(b"\r\n\r\n", 1)
                    if request.startswith(b"GET /api/generate/stream/"):
                        with self._lock:
                            self.stream_requests.append(request + b"\r\n\r\n")
                            if not self._cut_done:
                                self._cut_done = True
                                armed.set()
                if not head.startswith(b"GET ") and not b"GET /".startswith(head[:5]):
                    head = b""  # a request body (the page's POST): not a head to look at
                upstream.sendall(chunk)

    def close(self) -> None:
        self._closing = True
        self.server.close()


@pytest.fixture(scope="module")
def open_stack(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Gateway, jobs and generation (classic) without API keys: an EventSource sends no key."""
    root: Path = tmp_path_factory.mktemp("eventsource-stack")
    stack = Stack(
        StackSettings(
            port=0,
            data_dir=root / "data",
            api_keys="",
            only=("generation", "job_manager"),
            env={"RETOUCH_LOG_LEVEL": "warning"},
            startup_timeout_s=240.0,
        )
    )
    stack.start()
    yield stack
    stack.stop()


def removal_body() -> dict[str, Any]:
    picture = Image.fromarray(photos.coffee())
    mask = Image.new("L", picture.size, 0)
    ImageDraw.Draw(mask).ellipse([220, 120, 380, 260], fill=255)
    encoded = []
    for image in (picture, mask):
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        encoded.append(base64.b64encode(buffer.getvalue()).decode())
    return {"prompt": "", "task_type": "removal", "input_image": encoded[0], "mask": encoded[1]}


FOLLOW = """async (taskId) => new Promise((resolve) => {
  const seen = [];
  const source = new EventSource(`/api/generate/stream/${taskId}`);
  const timer = setTimeout(() => { source.close(); resolve({seen, timedOut: true}); }, 90000);
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    seen.push({id: event.id, status: event.status, type: event.type, lastEventId: message.lastEventId});
    if (["done", "error", "cancelled"].includes(event.status)) {
      clearTimeout(timer);
      source.close();
      resolve({seen, timedOut: false});
    }
  };
})"""


def test_an_eventsource_resumes_with_last_event_id_and_sees_each_event_once(open_stack: Stack, browser: Any) -> None:
    host, port = open_stack.gateway_url.removeprefix("http://").split(":")
    relay = CuttingRelay((host, int(port)), cut_after=2)
    context = browser.new_context()
    try:
        page = context.new_page()
        origin = f"http://127.0.0.1:{relay.port}"
        page.goto(f"{origin}/api/health")
        submitted = page.evaluate(
            """async (body) => (await fetch('/api/generate/async', {method: 'POST',
                 headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})).json()""",
            removal_body(),
        )
        outcome = page.evaluate(FOLLOW, submitted["task_id"])
    finally:
        context.close()
        relay.close()
    seen = outcome["seen"]
    assert not outcome["timedOut"], seen
    ids = [int(event["id"]) for event in seen]
    assert ids == sorted(set(ids)), f"an event was seen twice or out of order: {ids}"
    assert [event["status"] for event in seen].count("done") == 1 and seen[-1]["status"] == "done"
    assert len(relay.stream_requests) >= 2, "the stream was never resumed"
    resumed = relay.stream_requests[1].decode("latin-1").lower()
    match = re.search(r"^last-event-id: *(\d+)\r$", resumed, re.M)
    assert match, f"the reconnect sent no Last-Event-ID: {resumed}"
    assert int(match.group(1)) == ids[1], "it resumes after the last event it got (the id block after it)"
    assert all(int(event["id"]) > ids[1] for event in seen[2:])
    # The id-only block after each event sets lastEventId: an event carries the one before it.
    assert seen[1]["lastEventId"] == str(ids[0])
    assert json.dumps(seen)  # what the page saw is plain data
