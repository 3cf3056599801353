"""Anonymous browser access next to API keys on the real stack (API.md, Access): the seed client's
calls work without a key from its origin, are rate limited per client address, and are isolated:
an anonymous caller cannot read, cancel or delete a keyed caller's job or another anonymous
caller's (a task id is not an authorisation); keyed callers are unaffected.

Client addresses differ by binding the client's side of the connection to other loopback
addresses (127.0.0.2, ...), which the gateway sees as different callers."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image, ImageDraw
from seed_client import API_KEY, ORIGIN, SeedClient, b64, generation_body, letterbox, png, rgba_mask
from skimage import data as photos

from retouch.local import Stack

pytestmark = pytest.mark.e2e


def body() -> dict[str, object]:
    square, box = letterbox(Image.fromarray(photos.coffee()), 512)
    mask = Image.new("L", square.size, 0)
    ImageDraw.Draw(mask).ellipse([box[0] + 100, box[1] + 80, box[0] + 180, box[1] + 150], fill=255)
    return generation_body("removal", b64(png(square)), mask=rgba_mask(mask))


def keyed(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)


def refused_everywhere(caller: SeedClient, task_id: str) -> None:
    """Every route that names a job answers 404 to ``caller`` (the job is not told apart from a
    missing one)."""
    http = caller.http
    for method, path in [
        ("GET", f"/api/generate/status/{task_id}"),
        ("GET", f"/api/generate/result/{task_id}"),
        ("GET", f"/api/generate/result-image/{task_id}"),
        ("GET", f"/api/generate/stream/{task_id}"),
        ("POST", f"/api/generate/async/cancel/{task_id}"),
        ("DELETE", f"/api/generate/{task_id}"),
    ]:
        response = http.request(method, path)
        assert response.status_code == 404, (method, path, response.status_code, response.text)


def test_an_anonymous_caller_cannot_touch_a_keyed_callers_job(stack: Stack, client: SeedClient) -> None:
    with keyed(stack) as owner:
        task_id = owner.post("/api/generate/async", json=body()).json()["task_id"]
        refused_everywhere(client, task_id)
        status = owner.get(f"/api/generate/status/{task_id}")
        assert status.status_code == 200, "the keyed caller still has it"


def test_anonymous_callers_cannot_touch_each_others_jobs(stack: Stack, client: SeedClient) -> None:
    task_id = client.submit(body())
    other_address = SeedClient(stack.gateway_url, local_address="127.0.0.2")
    other_origin = SeedClient(stack.gateway_url, origin="http://seed-client.test:3001")
    try:
        refused_everywhere(other_address, task_id)
        # Another origin is not allowed at all: a keyless call from it needs a key.
        assert other_origin.http.get(f"/api/generate/status/{task_id}").status_code == 401
        with keyed(stack) as keyed_caller:
            assert keyed_caller.get(f"/api/generate/status/{task_id}").status_code == 404
        # Its own caller still reads, and deletes, it.
        assert client.http.get(f"/api/generate/status/{task_id}").status_code == 200
        assert client.http.delete(f"/api/generate/{task_id}").status_code == 204
    finally:
        other_address.close()
        other_origin.close()


def test_anonymous_calls_are_rate_limited_per_address_and_keys_are_not(stack: Stack) -> None:
    # The stack allows a burst of 100 anonymous requests per address (conftest).
    hammer = SeedClient(stack.gateway_url, local_address="127.0.0.3")
    calm = SeedClient(stack.gateway_url, local_address="127.0.0.4")
    try:
        # The bucket refills at 10 a second: faster requests than that run it dry.
        first = hammer.http.get("/api/generate/status/no-such-task")
        assert first.status_code == 404
        limited = first
        for _ in range(2000):
            limited = hammer.http.get("/api/generate/status/no-such-task")
            if limited.status_code != 404:
                break
        assert limited.status_code == 429, "anonymous calls from one address are limited"
        assert int(limited.headers["retry-after"]) >= 1 and "anonymous" in limited.json()["detail"]
        assert limited.headers["access-control-allow-origin"] == ORIGIN, "the page can read why"
        assert calm.http.get("/api/generate/status/no-such-task").status_code == 404, "other addresses are not"
        transport = httpx.HTTPTransport(local_address="127.0.0.3")
        with httpx.Client(
            base_url=stack.gateway_url, headers={"Authorization": f"Bearer {API_KEY}"}, transport=transport
        ) as keyed_same_address:
            assert keyed_same_address.get("/api/generate/status/no-such-task").status_code == 404
    finally:
        hammer.close()
        calm.close()


def test_keyed_callers_work_as_before(stack: Stack) -> None:
    with keyed(stack) as caller:
        submitted = caller.post("/api/generate/async", json=body())
        assert submitted.status_code == 202
        task_id = submitted.json()["task_id"]
        with caller.stream("GET", f"/api/generate/stream/{task_id}", timeout=120) as stream:
            text = stream.read().decode()
        assert '"status":"done"' in text
        assert caller.get(f"/api/generate/result/{task_id}").status_code == 200
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as nobody:
        assert nobody.get(f"/api/generate/status/{task_id}").status_code == 401, "no key, no origin: 401"
