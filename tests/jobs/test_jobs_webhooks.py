"""Webhooks on a loopback jobs service: one signed POST per terminal state (and at the start when
asked), verified with the SDK; retries with backoff while the receiver is down; a pending delivery
survives a restart of the jobs service and is delivered once; bad webhook requests are 422."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, body, wait_until
from loopback import free_port
from webhook_receiver import PortServer, Receiver, create_app

from retouch.jobs.settings import JobsSettings
from retouch.runtime.settings import SettingsError
from retouch.sdk.webhooks import WebhookVerificationError, verify

SECRET = "whsec_" + base64.b64encode(b"retouch-test-webhook-secret-24b").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-owner-secret-of-24-bytes").decode()
FAST = {
    "webhook_secret": SECRET,
    "webhook_allow_private": True,
    "webhook_retry_base_s": 0.05,
    "webhook_retry_max_s": 0.2,
}


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    server = ServerThread(create_app(state)).start()
    yield state, f"{server.url}/hook"
    server.stop()


def _submit(url: str, hook: str, prompt: str = "steps=2", headers: dict[str, str] | None = None, **fields: Any) -> str:
    response = httpx.post(
        f"{url}/api/generate/async", json=body(prompt, webhook=hook, **fields), headers=headers or {}, timeout=30
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def _status(url: str, task_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/api/generate/status/{task_id}", headers=headers or {}).json()
    return data


def _deliveries_settled(url: str, task_id: str, count: int, headers: dict[str, str] | None = None) -> list[Any]:
    found: list[Any] = []

    def settled() -> bool:
        nonlocal found
        found = _status(url, task_id, headers).get("webhook_deliveries") or []
        return len(found) == count and all(item["state"] != "pending" for item in found)

    wait_until(settled, 30, f"{count} deliveries of {task_id} to settle")
    return found


def _outcomes(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/api/metrics").text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "retouch_webhook_deliveries_total"
    }


def test_a_finished_job_gets_one_signed_delivery_of_its_status(
    jobs_server: JobsFactory, receiver: tuple[Receiver, str]
) -> None:
    state, hook = receiver
    jobs = jobs_server(**FAST)
    task_id = _submit(jobs.url, hook)
    deliveries = _deliveries_settled(jobs.url, task_id, 1)
    assert deliveries[0]["state"] == "delivered" and deliveries[0]["type"] == "done"
    assert deliveries[0]["attempts"] == 1 and deliveries[0]["last_status_code"] == 204
    assert deliveries[0]["delivered_at"] and deliveries[0]["next_attempt_at"] is None

    [got] = state.all()
    status = verify(got.body, got.headers, SECRET)
    assert status.task_id == task_id and status.status == "done" and status.finished_at is not None
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == deliveries[0]["id"]
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 300
    # The body is the status answer.
    assert set(json.loads(got.body)) >= {"task_id", "status", "progress", "created_at", "finished_at", "error"}
    with pytest.raises(WebhookVerificationError):
        verify(got.body, got.headers, OTHER_SECRET)
    with pytest.raises(WebhookVerificationError):
        verify(got.body.replace(b'"done"', b'"error"'), got.headers, SECRET)


@pytest.mark.parametrize(("prompt", "terminal"), [("fail", "error"), ("steps=2", "done")])
def test_each_terminal_state_is_delivered_exactly_once_and_start_when_asked(
    jobs_server: JobsFactory, receiver: tuple[Receiver, str], prompt: str, terminal: str
) -> None:
    state, hook = receiver
    jobs = jobs_server(**FAST)
    task_id = _submit(jobs.url, hook, prompt, webhook_events=["start"])
    deliveries = _deliveries_settled(jobs.url, task_id, 2)
    assert [item["type"] for item in deliveries] == ["start", terminal]
    statuses = [verify(got.body, got.headers, SECRET).status for got in state.all()]
    assert sorted(statuses) == sorted(["processing", terminal])
    assert len({got.headers["webhook-id"] for got in state.all()}) == 2


def test_a_cancelled_job_is_delivered_once(jobs_server: JobsFactory, receiver: tuple[Receiver, str]) -> None:
    state, hook = receiver
    jobs = jobs_server(**FAST)
    task_id = _submit(jobs.url, hook, "hang")
    wait_until(lambda: _status(jobs.url, task_id)["status"] == "processing", 30, "the job to start")
    assert httpx.post(f"{jobs.url}/api/generate/async/cancel/{task_id}", timeout=30).status_code == 200
    [delivery] = _deliveries_settled(jobs.url, task_id, 1)
    assert delivery["type"] == "cancelled" and delivery["state"] == "delivered"
    [got] = state.all()
    assert verify(got.body, got.headers, SECRET).status == "cancelled"


def test_a_receiver_that_is_down_for_a_while_gets_the_delivery_after_retries(
    jobs_server: JobsFactory, receiver: tuple[Receiver, str]
) -> None:
    state, hook = receiver
    state.fail_first = 3
    jobs = jobs_server(**FAST)
    before = _outcomes(jobs.url)
    task_id = _submit(jobs.url, hook)
    [delivery] = _deliveries_settled(jobs.url, task_id, 1)
    assert delivery["state"] == "delivered" and delivery["attempts"] == 4
    after = _outcomes(jobs.url)
    assert after["retry"] - before.get("retry", 0) == 3 and after["delivered"] - before.get("delivered", 0) == 1
    attempts = state.all()
    assert [got.answered for got in attempts] == [503, 503, 503, 204]
    # Every retry is the same message: receivers dedupe by webhook-id.
    assert len({got.headers["webhook-id"] for got in attempts}) == 1
    assert all(verify(got.body, got.headers, SECRET).task_id == task_id for got in attempts)


def test_a_delivery_that_keeps_failing_ends_failed_after_the_last_attempt(
    jobs_server: JobsFactory, receiver: tuple[Receiver, str]
) -> None:
    state, hook = receiver
    state.fail_first = 100
    jobs = jobs_server(**FAST, webhook_max_attempts=3)
    task_id = _submit(jobs.url, hook)
    [delivery] = _deliveries_settled(jobs.url, task_id, 1)
    assert delivery["state"] == "failed" and delivery["attempts"] == 3
    assert delivery["last_status_code"] == 503 and "503" in delivery["last_error"]
    assert len(state.all()) == 3
    # The job itself is not affected by its webhook.
    assert _status(jobs.url, task_id)["status"] == "done"


def test_a_pending_delivery_survives_a_restart_and_is_delivered_once(
    jobs_server: JobsFactory, tmp_path: Path, fake_gen: ServerThread
) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    # Slow retries: the first service must stop while the delivery waits for its next attempt.
    first = jobs_server(**{**FAST, "webhook_retry_base_s": 0.5, "webhook_retry_max_s": 1.0})
    task_id = _submit(first.url, hook)

    def refused_once() -> bool:
        found = _status(first.url, task_id).get("webhook_deliveries") or []
        return bool(found) and found[0]["attempts"] >= 1 and found[0]["state"] == "pending"

    wait_until(refused_once, 30, "a refused first attempt")
    [pending] = _status(first.url, task_id)["webhook_deliveries"]
    assert pending["last_status_code"] is None and pending["last_error"]
    first.stop()

    state = Receiver()
    up = PortServer(create_app(state), port)
    try:
        second = jobs_server(**FAST)
        [delivery] = _deliveries_settled(second.url, task_id, 1)
        assert delivery["state"] == "delivered" and delivery["id"] == pending["id"]
        # Another look after a few more delivery rounds: still exactly one.
        wait_until(lambda: len(state.all()) >= 1, 10, "the delivery")
        time.sleep(0.5)
        assert len(state.accepted()) == 1
        got = state.accepted()[0]
        assert verify(got.body, got.headers, SECRET).task_id == task_id
    finally:
        up.stop()


def test_each_owner_signs_with_its_own_secret(jobs_server: JobsFactory, receiver: tuple[Receiver, str]) -> None:
    state, hook = receiver
    jobs = jobs_server(
        **{**FAST, "webhook_secret": None, "webhook_secrets": {"owner-a": SECRET, "owner-b": OTHER_SECRET}}
    )
    _submit(jobs.url, hook, headers={"X-Retouch-Owner": "owner-a"})
    _submit(jobs.url, hook, headers={"X-Retouch-Owner": "owner-b"})
    wait_until(lambda: len(state.accepted()) == 2, 30, "two deliveries")
    verified = []
    for got in state.accepted():
        for secret in (SECRET, OTHER_SECRET):
            try:
                verify(got.body, got.headers, secret)
            except WebhookVerificationError:
                continue
            verified.append(secret)
    assert sorted(verified) == sorted([SECRET, OTHER_SECRET])
    # An owner with no secret cannot ask for a webhook.
    refused = httpx.post(
        f"{jobs.url}/api/generate/async", json=body(webhook=hook), headers={"X-Retouch-Owner": "owner-c"}
    )
    assert refused.status_code == 422 and "webhook" in refused.text


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"webhook": "ftp://example.com/hook"}, "http"),
        ({"webhook": "file:///etc/passwd"}, "http"),
        ({"webhook": "not a url"}, "http"),
        ({"webhook": "http://"}, "http"),
        ({"webhook": "http://user:pw@example.com/hook"}, "credentials"),
        ({"webhook": "http://example.com:99999/hook"}, "valid URL"),
        ({"webhook": "http://127.0.0.1:9/hook"}, "private"),
        ({"webhook": "http://localhost/hook"}, "private"),
        ({"webhook": "http://10.1.2.3/hook"}, "private"),
        ({"webhook": "http://[::1]/hook"}, "private"),
        ({"webhook": "http://169.254.169.254/latest"}, "private"),
        ({"webhook": "http://[::ffff:127.0.0.1]/hook"}, "private"),
        ({"webhook_events": ["start"]}, "webhook"),
        ({"webhook": "https://example.com/hook", "webhook_events": ["finish"]}, "webhook_events"),
        ({"webhook": "https://example.com/" + "x" * 2100}, "webhook"),
    ],
)
def test_bad_webhook_requests_are_422(jobs_server: JobsFactory, fields: dict[str, Any], word: str) -> None:
    jobs = jobs_server(webhook_secret=SECRET)
    response = httpx.post(f"{jobs.url}/api/generate/async", json=body(**fields))
    assert response.status_code == 422, response.text
    assert word in response.text


def test_without_a_configured_secret_a_webhook_is_refused(jobs: ServerThread) -> None:
    response = httpx.post(f"{jobs.url}/api/generate/async", json=body(webhook="https://example.com/hook"))
    assert response.status_code == 422 and "not configured" in response.text


def test_a_name_that_resolves_to_a_private_address_is_not_delivered_to(jobs_server: JobsFactory) -> None:
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's name does not resolve")
    import ipaddress

    if not ipaddress.ip_address(address).is_private and not ipaddress.ip_address(address).is_loopback:
        pytest.skip("this machine's name resolves to a public address")
    jobs = jobs_server(**{**FAST, "webhook_allow_private": False})
    task_id = _submit(jobs.url, f"http://{name}:9/hook")
    [delivery] = _deliveries_settled(jobs.url, task_id, 1)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    assert "private address" in delivery["last_error"]


def test_deleting_a_job_drops_its_deliveries(jobs_server: JobsFactory, receiver: tuple[Receiver, str]) -> None:
    state, hook = receiver
    state.fail_first = 1000
    jobs = jobs_server(**FAST, webhook_max_attempts=1000)
    task_id = _submit(jobs.url, hook)
    wait_until(lambda: len(state.all()) >= 2, 30, "retries")
    assert httpx.delete(f"{jobs.url}/api/generate/{task_id}").status_code == 204
    time.sleep(0.3)
    settled = len(state.all())
    time.sleep(0.6)
    assert len(state.all()) <= settled + 1


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"webhook_secret": "not-a-secret"}, "RETOUCH_JOBS_WEBHOOK_SECRET"),
        ({"webhook_secret": "whsec_!!!"}, "RETOUCH_JOBS_WEBHOOK_SECRET"),
        ({"webhook_secret": "whsec_c2hvcnQ="}, "RETOUCH_JOBS_WEBHOOK_SECRET"),
        ({"webhook_secrets": {"abc": "nope"}}, "RETOUCH_JOBS_WEBHOOK_SECRETS"),
        ({"webhook_max_attempts": 0}, "RETOUCH_JOBS_WEBHOOK_MAX_ATTEMPTS"),
        ({"webhook_retry_base_s": 0}, "RETOUCH_JOBS_WEBHOOK_RETRY_BASE_SECONDS"),
        ({"webhook_timeout_s": -1}, "RETOUCH_JOBS_WEBHOOK_TIMEOUT_SECONDS"),
    ],
)
def test_bad_webhook_settings_fail_at_start_naming_the_variable(overrides: dict[str, Any], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        JobsSettings(**overrides)


def test_a_delivery_held_at_a_crash_is_settled_by_what_the_store_holds(
    jobs_server: JobsFactory, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    """A crash between writing a held delivery and storing its job's end: at the next start the
    delivery goes if the store holds the job as finished, and is dropped if the job runs again
    (its new end is announced once, with what the store then holds)."""
    import asyncio

    from retouch.jobs.state import Job
    from retouch.jobs.store_sqlite import SqliteJobStore
    from retouch.jobs.webhooks import SqliteWebhookOutbox, WebhookSender

    state, hook = receiver
    db = tmp_path / "data" / "jobs" / "jobs.sqlite3"
    now = time.time()
    ended = Job(task_id="e" * 32, owner="anonymous", engine="default", seq=1, created_at=now, webhook=hook)
    ended.status, ended.started_at, ended.finished_at, ended.progress = "done", now, now, 1.0
    cut = Job(task_id="c" * 32, owner="anonymous", engine="default", seq=2, created_at=now, webhook=hook)
    cut.status, cut.started_at, cut.attempt, cut.run_id = "processing", now, 1, "c" * 32 + ".1"

    async def crash_leftovers() -> None:
        store, outbox = SqliteJobStore(db), SqliteWebhookOutbox(db)
        await store.open()
        await outbox.open()
        sender = WebhookSender(JobsSettings(**FAST), outbox)
        for job in (ended, cut):
            await store.create(job)
            finished_view = job.status_view()
            finished_view.status = "done"
            assert await sender.hold(job, finished_view)
        await outbox.close()
        await store.close()

    asyncio.run(crash_leftovers())
    jobs = jobs_server(**FAST)
    [delivered] = _deliveries_settled(jobs.url, ended.task_id, 1)
    assert delivered["state"] == "delivered" and delivered["type"] == "done"
    # The cut job runs again (its request is gone, so it ends in error): one delivery, of that end.
    [again] = _deliveries_settled(jobs.url, cut.task_id, 1)
    assert again["type"] == "error" and again["state"] == "delivered"
    time.sleep(0.3)
    bodies = {
        verify(got.body, got.headers, SECRET).task_id: verify(got.body, got.headers, SECRET) for got in state.all()
    }
    assert len(state.all()) == 2
    assert bodies[ended.task_id].status == "done" and bodies[cut.task_id].status == "error"


def test_an_expired_job_takes_its_deliveries_with_it(
    jobs_server: JobsFactory, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    import sqlite3

    _, hook = receiver
    jobs = jobs_server(**FAST, ttl_s=3.0, expiry_interval_s=0.1)
    task_id = _submit(jobs.url, hook)
    _deliveries_settled(jobs.url, task_id, 1)

    def rows() -> int:
        with sqlite3.connect(tmp_path / "data" / "jobs" / "jobs.sqlite3") as db:
            (count,) = db.execute("SELECT COUNT(*) FROM webhook_deliveries WHERE task_id = ?", (task_id,)).fetchone()
        return int(count)

    assert rows() == 1
    wait_until(lambda: httpx.get(f"{jobs.url}/api/generate/status/{task_id}").status_code == 404, 30, "expiry")
    wait_until(lambda: rows() == 0, 10, "its deliveries to go")
