"""``Idempotency-Key``: the same key from the same owner gives the same job, once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from jobs_helpers import ServerThread, body, fake_runs, wait_status


def _submit(url: str, key: str, owner: str | None = None, payload: dict[str, object] | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key}
    if owner:
        headers["X-Retouch-Owner"] = owner
    return httpx.post(f"{url}/api/generate/async", json=payload or body(), headers=headers, timeout=30)


def test_the_same_key_twice_gives_one_job(jobs: ServerThread, fake_gen: ServerThread) -> None:
    first = _submit(jobs.url, "key-1")
    wait_status(jobs.url, first.json()["task_id"], "done")
    second = _submit(jobs.url, "key-1")
    assert first.status_code == second.status_code == 202
    assert second.json()["task_id"] == first.json()["task_id"]
    assert second.json()["status"] == "done", "a replay reports the job as it is now"
    assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    runs = [r for r in fake_runs(fake_gen.url)["runs"] if r["run_id"].startswith(first.json()["task_id"])]
    assert len(runs) == 1
    assert len(fake_runs(fake_gen.url)["runs"]) == 1


def test_keys_belong_to_their_owner(jobs: ServerThread) -> None:
    mine = _submit(jobs.url, "shared-key", owner="key-a").json()["task_id"]
    theirs = _submit(jobs.url, "shared-key", owner="key-b").json()["task_id"]
    assert mine != theirs


def test_a_key_reused_for_another_request_is_refused(jobs: ServerThread) -> None:
    assert _submit(jobs.url, "key-2").status_code == 202
    other = _submit(jobs.url, "key-2", payload=body(prompt="something else"))
    assert other.status_code == 422
    assert other.json()["detail"] == "Idempotency-Key 'key-2' was already used for a different request"


def test_concurrent_submissions_with_one_key_make_one_job(jobs: ServerThread) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _submit(jobs.url, "race"), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["task_id"] for a in answers}) == 1
    assert sum("idempotent-replayed" not in a.headers for a in answers) == 1


@pytest.mark.parametrize("key", [b"x" * 256, "caf\u00e9".encode(), b"tab\there"])
def test_a_malformed_key_is_422(jobs: ServerThread, key: bytes) -> None:
    response = httpx.post(f"{jobs.url}/api/generate/async", json=body(), headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Idempotency-Key")
