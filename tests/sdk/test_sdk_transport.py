"""RetryTransport: which requests are retried, on what, how long it waits, when it gives up."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from types import SimpleNamespace

import httpx
import pytest

from retouch.sdk import _transport
from retouch.sdk._transport import IDEMPOTENT_EXTENSION, AsyncRetryTransport, RetryPolicy, RetryTransport

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """A mock server answering with the given statuses (or raising the given errors) in turn."""

    def __init__(self, *steps: int | type[Exception], headers: dict[str, str] | None = None) -> None:
        self.steps = list(steps)
        self.headers = headers or {}
        self.calls = 0
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        self.bodies.append(request.read())
        if isinstance(step, type):
            raise step("boom", request=request)  # type: ignore[call-arg]
        return httpx.Response(step, headers=self.headers, json={"n": self.calls})


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the transport's waits instead of sleeping."""
    waited: list[float] = []

    async def async_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(_transport, "time", SimpleNamespace(sleep=waited.append, time=time.time))
    monkeypatch.setattr(_transport, "asyncio", SimpleNamespace(sleep=async_sleep))
    return waited


def client(script: Script, policy: RetryPolicy | None = None) -> httpx.Client:
    return httpx.Client(transport=RetryTransport(httpx.MockTransport(script), policy), base_url="http://api")


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_get_is_retried_on_retryable_statuses(status: int, sleeps: list[float]) -> None:
    script = Script(status, 200)
    with client(script) as c:
        response = c.get("/x")
    assert response.status_code == 200
    assert script.calls == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500, 501])
def test_other_errors_are_not_retried(status: int, sleeps: list[float]) -> None:
    script = Script(status, 200)
    with client(script) as c:
        assert c.get("/x").status_code == status
    assert script.calls == 1
    assert sleeps == []


def test_plain_post_is_not_retried(sleeps: list[float]) -> None:
    script = Script(503, 200)
    with client(script) as c:
        assert c.post("/x", content=b"body").status_code == 503
    assert script.calls == 1


def test_plain_post_is_not_retried_after_a_connection_error(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError, 200)
    with client(script) as c, pytest.raises(httpx.ConnectError):
        c.post("/x", content=b"body")
    assert script.calls == 1


def test_post_with_idempotency_key_is_retried_with_the_same_body(sleeps: list[float]) -> None:
    script = Script(503, 200)
    with client(script) as c:
        response = c.post("/x", content=b"payload", headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200
    assert script.bodies == [b"payload", b"payload"]


def test_post_marked_idempotent_is_retried(sleeps: list[float]) -> None:
    script = Script(502, 200)
    with client(script) as c:
        request = c.build_request("POST", "/x", content=b"p", extensions={IDEMPOTENT_EXTENSION: True})
        assert c.send(request).status_code == 200
    assert script.calls == 2


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError]
)
def test_connection_errors_are_retried_for_get(error: type[Exception], sleeps: list[float]) -> None:
    script = Script(error, 200)
    with client(script) as c:
        assert c.get("/x").status_code == 200
    assert script.calls == 2


def test_gives_up_after_max_retries_with_the_last_response(sleeps: list[float]) -> None:
    script = Script(503)
    with client(script, RetryPolicy(max_retries=3)) as c:
        response = c.get("/x")
    assert response.status_code == 503
    assert response.json() == {"n": 4}
    assert script.calls == 4
    assert len(sleeps) == 3


def test_gives_up_after_max_retries_raising_the_connection_error(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError)
    with client(script, RetryPolicy(max_retries=2)) as c, pytest.raises(httpx.ConnectError):
        c.get("/x")
    assert script.calls == 3


def test_zero_retries(sleeps: list[float]) -> None:
    script = Script(503, 200)
    with client(script, RetryPolicy(max_retries=0)) as c:
        assert c.get("/x").status_code == 503
    assert script.calls == 1


def test_retry_after_seconds_is_honoured(sleeps: list[float]) -> None:
    script = Script(429, 200, headers={"Retry-After": "3"})
    with client(script) as c:
        assert c.get("/x").status_code == 200
    assert sleeps == [3.0]


def test_retry_after_http_date_is_honoured(sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    script = Script(503, 200, headers={"Retry-After": when})
    with client(script) as c:
        assert c.get("/x").status_code == 200
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_a_too_long_retry_after_is_returned_to_the_caller(sleeps: list[float]) -> None:
    script = Script(429, 200, headers={"Retry-After": "3600"})
    with client(script) as c:
        response = c.get("/x")
    assert response.status_code == 429
    assert script.calls == 1
    assert sleeps == []


def test_an_unparseable_retry_after_falls_back_to_backoff(sleeps: list[float]) -> None:
    script = Script(503, 200, headers={"Retry-After": "soon"})
    with client(script, RetryPolicy(backoff=0.5)) as c:
        assert c.get("/x").status_code == 200
    assert 0.25 <= sleeps[0] <= 0.5


def test_backoff_doubles_is_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0)
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0)]:
        for _ in range(20):
            delay = policy.delay(attempt, None)
            assert delay is not None and base * 0.5 <= delay <= base


def test_should_retry() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(httpx.Request("GET", "http://x"))
    assert policy.should_retry(httpx.Request("DELETE", "http://x"))
    assert not policy.should_retry(httpx.Request("POST", "http://x"))
    assert not policy.should_retry(httpx.Request("PATCH", "http://x"))
    assert policy.should_retry(httpx.Request("POST", "http://x", headers={"Idempotency-Key": "k"}))
    assert policy.should_retry(httpx.Request("POST", "http://x", extensions={IDEMPOTENT_EXTENSION: True}))


async def test_async_transport_retries_the_same_way(sleeps: list[float]) -> None:
    script = Script(503, 429, 200, headers={"Retry-After": "1"})
    transport = AsyncRetryTransport(httpx.MockTransport(script), RetryPolicy(max_retries=2))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        assert (await c.get("/x")).status_code == 200
        post = Script(503, 200)
        transport._wrapped = httpx.MockTransport(post)
        assert (await c.post("/x", content=b"b")).status_code == 503
    assert script.calls == 3
    assert sleeps == [1.0, 1.0]
    assert post.calls == 1


async def test_async_transport_gives_up_on_connection_errors(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError)
    transport = AsyncRetryTransport(httpx.MockTransport(script), RetryPolicy(max_retries=1))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/x")
    assert script.calls == 2
