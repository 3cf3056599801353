"""The webhook outbox on Modal (``ModalDictWebhookOutbox``) against the in-memory ``modal.Dict``
fake: the outbox contract, and a delivery pending when a jobs container goes is made once by the
next container."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from jobs_helpers import ServerThread, body, wait_until
from loopback import free_port
from modal_fakes import FakeDict
from test_jobs_modal import ModalWorld
from test_jobs_webhooks import FAST, SECRET
from webhook_receiver import PortServer, Receiver, create_app

from retouch.jobs.webhooks import Delivery
from retouch.jobs.webhooks_modal import ModalDictWebhookOutbox
from retouch.sdk.webhooks import verify


def _delivery(delivery_id: str, task_id: str, *, state: str = "pending", due: float = 0.0) -> Delivery:
    return Delivery(
        id=delivery_id,
        task_id=task_id,
        owner="anonymous",
        url="http://127.0.0.1:9/hook",
        type="done",
        body=b"{}",
        state=state,
        next_attempt_at=due,
        created_at=due,
    )


async def test_the_dict_outbox_keeps_the_contract() -> None:
    outbox = ModalDictWebhookOutbox(FakeDict())
    assert await outbox.add(_delivery("a", "t1", due=1.0))
    assert not await outbox.add(_delivery("a", "t1", due=5.0)), "an id is written once"
    assert await outbox.add(_delivery("b", "t1", due=3.0))
    assert await outbox.add(_delivery("c", "t2", state="held", due=2.0))
    assert [d.id for d in await outbox.due(10.0, 10)] == ["a", "b"]
    assert [d.id for d in await outbox.due(2.0, 10)] == ["a"]
    assert await outbox.next_due() == 1.0
    assert [d.id for d in await outbox.held()] == ["c"]
    await outbox.release("c", b'{"new": 1}')
    released = (await outbox.for_task("t2"))[0]
    assert released.state == "pending" and released.body == b'{"new": 1}'
    delivered = (await outbox.for_task("t1"))[0]
    delivered.state = "delivered"
    await outbox.update(delivered)
    assert [d.id for d in await outbox.due(10.0, 10)] == ["c", "b"], "earliest first"
    assert [d.state for d in await outbox.for_task("t1")] == ["delivered", "pending"]
    await outbox.forget("t1")
    assert await outbox.for_task("t1") == []
    await outbox.update(delivered)
    assert await outbox.for_task("t1") == [], "an update after a forget does not bring it back"
    await outbox.drop("c")
    assert await outbox.due(10.0, 10) == [] and await outbox.next_due() is None


@pytest.fixture
def world() -> ModalWorld:
    return ModalWorld()


def test_a_pending_delivery_moves_to_the_next_container_and_is_made_once(world: ModalWorld, tmp_path: Path) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    slow = {**FAST, "webhook_retry_base_s": 0.5, "webhook_retry_max_s": 1.0}
    first = ServerThread(world.app(tmp_path / "one", **slow)).start()
    try:
        response = httpx.post(f"{first.url}/api/generate/async", json=body("steps=2", webhook=hook))
        task_id = response.json()["task_id"]

        def refused() -> bool:
            found = httpx.get(f"{first.url}/api/generate/status/{task_id}").json().get("webhook_deliveries") or []
            return bool(found) and found[0]["attempts"] >= 1

        wait_until(refused, 30, "a refused attempt")
    finally:
        first.stop()
    state = Receiver()
    up = PortServer(create_app(state), port)
    # Another container, with a disk of its own: only the Dict carries the delivery over.
    second = ServerThread(world.app(tmp_path / "two", **FAST)).start()
    try:

        def delivered() -> bool:
            found = httpx.get(f"{second.url}/api/generate/status/{task_id}").json().get("webhook_deliveries") or []
            return bool(found) and found[0]["state"] == "delivered"

        wait_until(delivered, 30, "the delivery")
        time.sleep(0.5)
        assert len(state.accepted()) == 1
        got = state.accepted()[0]
        assert verify(got.body, got.headers, SECRET).task_id == task_id
    finally:
        second.stop()
        up.stop()
