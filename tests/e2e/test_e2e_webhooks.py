"""Webhooks on the real local stack, through the gateway: a loopback receiver gets exactly one
signed delivery per terminal state (verified with the SDK); a receiver that is down for a while
gets it after retries; a delivery pending when the jobs service is killed is delivered once by the
restarted service."""

from __future__ import annotations

import base64
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_images import mask, png, scene
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1] / "jobs"))

from jobs_helpers import ServerThread, wait_until
from loopback import free_port
from webhook_receiver import PortServer, Receiver, create_app

from retouch.local import Stack, StackSettings
from retouch.sdk import Client
from retouch.sdk.models.generation import GenerationRequest
from retouch.sdk.webhooks import verify

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"e2e-webhook-secret-of-32-bytes!!").decode()


@pytest.fixture(scope="module")
def hooked_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The generation and jobs services and a gateway, with webhooks on (loopback allowed)."""
    root = tmp_path_factory.mktemp("e2e-webhooks")
    with (root / "stack.log").open("w") as log:
        settings = StackSettings(
            port=0,
            data_dir=root / "data",
            api_keys="",
            only=("generation", "job_manager"),
            env={
                "RETOUCH_JOBS_WEBHOOK_SECRET": SECRET,
                "RETOUCH_JOBS_WEBHOOK_ALLOW_PRIVATE": "true",
                "RETOUCH_JOBS_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
                "RETOUCH_JOBS_WEBHOOK_RETRY_MAX_SECONDS": "1",
            },
            log_stream=log,
            startup_timeout_s=180.0,
        )
        stack = Stack(settings)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def client(hooked_stack: Stack) -> Iterator[Client]:
    with Client(hooked_stack.gateway_url, api_key="", max_retries=0, timeout=60) as sdk:
        yield sdk


def _request(hook: str, size: int = 1, **fields: Any) -> GenerationRequest:
    picture, region = scene(), mask()
    if size > 1:
        picture = picture.resize((picture.width * size, picture.height * size), Image.Resampling.BICUBIC)
        region = region.resize(picture.size, Image.Resampling.NEAREST)
    return GenerationRequest(
        prompt="", task_type="removal", input_image=png(picture), mask=png(region), webhook=hook, **fields
    )


def _settled(client: Client, task_id: str, count: int, timeout: float = 60) -> list[Any]:
    found: list[Any] = []

    def settled() -> bool:
        nonlocal found
        found = client.jobs.get(task_id).webhook_deliveries or []
        return len(found) == count and all(item.state != "pending" for item in found)

    wait_until(settled, timeout, f"the deliveries of {task_id}")
    return found


def test_one_signed_delivery_per_terminal_state(client: Client) -> None:
    state = Receiver()
    server = ServerThread(create_app(state)).start()
    hook = f"{server.url}/hook"
    try:
        # A big job holds the engine while the second one, queued behind it, is cancelled.
        busy = client.jobs.submit(_request(hook, size=12, webhook_events=["start"]))
        queued = client.jobs.submit(_request(hook))
        cancelled = client.jobs.cancel(queued.task_id)
        assert cancelled.status == "cancelled"
        assert client.jobs.wait(busy.task_id).status == "done"
        assert [d.type for d in _settled(client, busy.task_id, 2)] == ["start", "done"]
        assert [d.type for d in _settled(client, queued.task_id, 1)] == ["cancelled"]
        got = {(s.task_id, s.status) for s in (verify(r.body, r.headers, SECRET) for r in state.all())}
        assert got == {(busy.task_id, "processing"), (busy.task_id, "done"), (queued.task_id, "cancelled")}
        assert len(state.all()) == 3, "exactly one POST per delivery"
    finally:
        server.stop()


def test_a_receiver_down_for_a_while_gets_its_delivery_after_retries(client: Client) -> None:
    port = free_port()
    task_id = client.jobs.submit(_request(f"http://127.0.0.1:{port}/hook")).task_id
    assert client.jobs.wait(task_id).status == "done"

    def retried() -> bool:
        found = client.jobs.get(task_id).webhook_deliveries or []
        return bool(found) and found[0].attempts >= 2 and found[0].state == "pending"

    wait_until(retried, 60, "two refused attempts")
    state = Receiver()
    up = PortServer(create_app(state), port)
    try:
        [delivery] = _settled(client, task_id, 1)
        assert delivery.state == "delivered" and delivery.attempts >= 3
        assert [verify(r.body, r.headers, SECRET).status for r in state.all()] == ["done"]
    finally:
        up.stop()


def test_a_delivery_pending_when_the_jobs_service_is_killed_is_delivered_once(
    hooked_stack: Stack, client: Client
) -> None:
    port = free_port()
    task_id = client.jobs.submit(_request(f"http://127.0.0.1:{port}/hook")).task_id
    assert client.jobs.wait(task_id).status == "done"
    wait_until(
        lambda: bool((client.jobs.get(task_id).webhook_deliveries or [None])[0]), 60, "the delivery to be recorded"
    )
    pending = (client.jobs.get(task_id).webhook_deliveries or [])[0]
    assert pending.state == "pending"
    hooked_stack.kill("job_manager", signal.SIGKILL)
    state = Receiver()
    up = PortServer(create_app(state), port)
    try:
        hooked_stack.restart("job_manager")
        [delivery] = _settled(client, task_id, 1)
        assert delivery.state == "delivered" and delivery.id == pending.id
        time.sleep(1.5)  # a few more rounds of the sender: nothing is sent again
        assert len(state.accepted()) == 1
        got = state.accepted()[0]
        assert verify(got.body, got.headers, SECRET).task_id == task_id
        assert got.headers["webhook-id"] == pending.id
    finally:
        up.stop()
