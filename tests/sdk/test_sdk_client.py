"""Client and AsyncClient: configuration from the environment, per-call timeouts, errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from retouch.sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Base64Bytes,
    Client,
    NotFoundError,
    ServiceUnavailableError,
    __version__,
)
from retouch.sdk._base import DEFAULT_URL, RequestSpec
from retouch.sdk.images import save_image, to_base64_bytes, to_bytes
from retouch.sdk.models.common import FieldError, Health, SystemHealth
from retouch.sdk.resources.jobs import build_request

HEALTH = {"status": "healthy", "service": "gateway", "version": "9.9"}


class Recorder:
    """A mock server that records requests and answers from a route table."""

    def __init__(self, answers: dict[str, httpx.Response | type[Exception]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = answers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get(request.url.path, httpx.Response(200, json=HEALTH))
        if isinstance(answer, type):
            raise answer("fail", request=request)  # type: ignore[call-arg]
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def timeout(self) -> dict[str, Any]:
        result: dict[str, Any] = self.last.extensions["timeout"]
        return result


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RETOUCH_URL", raising=False)
    monkeypatch.delenv("RETOUCH_API_KEY", raising=False)
    yield


def test_defaults() -> None:
    server = Recorder()
    with Client(transport=httpx.MockTransport(server)) as client:
        assert client.base_url == DEFAULT_URL
        assert client.api_key is None
        client.health()
    assert str(server.last.url) == f"{DEFAULT_URL}/api/health"
    assert "authorization" not in server.last.headers
    assert server.last.headers["user-agent"] == f"retouch-sdk/{__version__}"


def test_url_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOUCH_URL", "http://env-host:9000/")
    monkeypatch.setenv("RETOUCH_API_KEY", "env-key")
    server = Recorder()
    with Client(transport=httpx.MockTransport(server)) as client:
        assert client.base_url == "http://env-host:9000"
        client.health()
    assert str(server.last.url) == "http://env-host:9000/api/health"
    assert server.last.headers["authorization"] == "Bearer env-key"


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOUCH_URL", "http://env-host:9000")
    monkeypatch.setenv("RETOUCH_API_KEY", "env-key")
    server = Recorder()
    with Client(
        "http://mine:1/base/", api_key="mine", transport=httpx.MockTransport(server), headers={"X-A": "1"}
    ) as c:
        c.health()
    assert str(server.last.url) == "http://mine:1/base/api/health"
    assert server.last.headers["authorization"] == "Bearer mine"
    assert server.last.headers["x-a"] == "1"
    with Client(api_key="", transport=httpx.MockTransport(server)) as c:
        c.health()
    assert "authorization" not in server.last.headers


def test_timeout_per_client_and_per_call() -> None:
    server = Recorder()
    with Client(timeout=12.0, transport=httpx.MockTransport(server)) as client:
        client.health()
        assert server.timeout() == {"connect": 12.0, "read": 12.0, "write": 12.0, "pool": 12.0}
        client.health(timeout=3.5)
        assert server.timeout()["read"] == 3.5
        client.health(timeout=None)
        assert server.timeout()["read"] is None
        client.health(timeout=httpx.Timeout(2.0, read=30.0))
        assert server.timeout()["connect"] == 2.0 and server.timeout()["read"] == 30.0
        client.health()
        assert server.timeout()["read"] == 12.0


async def test_async_timeout_per_call_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOUCH_URL", "http://async-host")
    monkeypatch.setenv("RETOUCH_API_KEY", "k")
    server = Recorder()
    async with AsyncClient(timeout=7.0, transport=httpx.MockTransport(server)) as client:
        health = await client.health(timeout=1.0)
        assert server.timeout()["read"] == 1.0
        await client.health()
        assert server.timeout()["read"] == 7.0
    assert health == Health(status="healthy", service="gateway", version="9.9")
    assert server.last.url.host == "async-host"
    assert server.last.headers["authorization"] == "Bearer k"


def test_health_and_system_health_decode_the_contract() -> None:
    system = {
        "status": "degraded",
        "services": {"generation": {"status": "idle"}, "image_utils": {"status": "unhealthy", "error": "refused"}},
    }
    server = Recorder({"/api/system/health": httpx.Response(200, json=system)})
    with Client(transport=httpx.MockTransport(server)) as client:
        assert client.health().version == "9.9"
        result = client.system_health()
    assert isinstance(result, SystemHealth)
    assert result.status == "degraded"
    assert result.services["image_utils"].error == "refused"


def test_error_status_raises_its_class_with_the_problem() -> None:
    problem = {"title": "Not Found", "status": 404, "detail": "no route /api/x", "request_id": "abc"}
    server = Recorder(
        {"/api/health": httpx.Response(404, json=problem, headers={"content-type": "application/problem+json"})}
    )
    with Client(transport=httpx.MockTransport(server)) as client, pytest.raises(NotFoundError) as info:
        client.health()
    assert info.value.detail == "no route /api/x"
    assert info.value.request_id == "abc"
    assert info.value.response is not None


def test_retryable_errors_surface_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("retouch.sdk._transport.time.sleep", lambda s: None)
    server = Recorder({"/api/health": httpx.Response(503, json={"title": "x", "status": 503, "detail": "loading"})})
    with Client(max_retries=2, transport=httpx.MockTransport(server)) as client, pytest.raises(ServiceUnavailableError):
        client.health()
    assert len(server.requests) == 3


def test_connection_and_timeout_errors_are_translated() -> None:
    server = Recorder({"/api/health": httpx.ConnectError, "/api/system/health": httpx.ReadTimeout})
    with Client(max_retries=0, transport=httpx.MockTransport(server)) as client:
        with pytest.raises(APIConnectionError) as refused:
            client.health()
        assert not isinstance(refused.value, APITimeoutError)
        assert "GET http://127.0.0.1:8000/api/health failed" in str(refused.value)
        assert isinstance(refused.value.__cause__, httpx.ConnectError)
        with pytest.raises(APITimeoutError, match="timed out"):
            client.system_health()


def test_send_encodes_struct_bodies_and_returns_raw_bytes_without_cast() -> None:
    server = Recorder({"/api/raw": httpx.Response(200, content=b"\x89PNG")})
    with Client(transport=httpx.MockTransport(server)) as client:
        body = FieldError(field="f", message="m")
        assert client._send(RequestSpec("POST", "/api/raw", body=body, params={"format": "png"})) == b"\x89PNG"
    assert server.last.headers["content-type"] == "application/json"
    assert server.last.content == b'{"field":"f","message":"m"}'
    assert server.last.url.params["format"] == "png"


def test_stream_yields_success_and_raises_problems() -> None:
    server = Recorder(
        {
            "/ok": httpx.Response(200, content=b"data: 1\n\n"),
            "/gone": httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "no task"}),
        }
    )
    with Client(transport=httpx.MockTransport(server)) as client:
        with client._stream(RequestSpec("GET", "/ok")) as response:
            assert b"".join(response.iter_bytes()) == b"data: 1\n\n"
        with pytest.raises(NotFoundError, match="no task"), client._stream(RequestSpec("GET", "/gone")):
            pass


async def test_async_stream_and_errors() -> None:
    server = Recorder({"/gone": httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "no task"})})
    async with AsyncClient(transport=httpx.MockTransport(server)) as client:
        with pytest.raises(NotFoundError):
            async with client._stream(RequestSpec("GET", "/gone")):
                pass
        raw = await client.request_raw("GET", "/gone?x=1", stream=False)
        assert raw.status_code == 404  # request_raw hands back any status
        assert server.last.url.params["x"] == "1"


def test_sync_request_raw_streams_a_body_and_hands_back_any_status() -> None:
    server = Recorder({"/gone": httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "no task"})})
    with Client(transport=httpx.MockTransport(server)) as client:
        raw = client.request_raw("PUT", "/gone?x=1", content=iter([b"a", b"b"]), headers={"X-Y": "z"}, stream=False)
        assert raw.status_code == 404
        assert server.last.url.params["x"] == "1"
        assert server.last.headers["x-y"] == "z"
        assert server.last.read() == b"ab"
    refused = httpx.MockTransport(Recorder({"/": httpx.ConnectError}))
    with Client(transport=refused, max_retries=0) as client, pytest.raises(APIConnectionError):
        client.request_raw("GET", "/", timeout=1.0)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def test_image_inputs(tmp_path: Path) -> None:
    data = _png()
    path = tmp_path / "a.png"
    path.write_bytes(data)
    assert to_bytes(path) == data
    assert to_bytes(str(path)) == data
    assert to_bytes(bytearray(data)) == data
    assert to_bytes(memoryview(data)) == data
    with Image.open(io.BytesIO(to_bytes(Image.new("RGB", (3, 1))))) as decoded:
        assert decoded.size == (3, 1) and decoded.format == "PNG"
    assert to_base64_bytes(data) == data
    with pytest.raises(TypeError, match="expected a path, bytes or a PIL image"):
        to_bytes(42)
    out = save_image(data, tmp_path / "deep" / "er" / "b.png")
    assert out.read_bytes() == data


def test_edit_takes_paths_and_pil_images_for_conditional_images(tmp_path: Path) -> None:
    data = _png()
    path = save_image(data, tmp_path / "cond.png")
    request = build_request(
        data,
        task_type="removal",
        prompt="",
        mask=None,
        reference_image=None,
        reference_mask=None,
        options={"conditional_images": [path, Image.open(io.BytesIO(data)), data], "seed": 3},
    )
    assert request.conditional_images is not None
    path_item, pil_item, bytes_item = request.conditional_images
    assert path_item == data and bytes_item == data
    assert Image.open(io.BytesIO(pil_item)).tobytes() == Image.open(io.BytesIO(data)).tobytes()
    assert all(isinstance(item, Base64Bytes) for item in request.conditional_images)
    assert request.seed == 3


def test_task_ids_are_quoted_into_one_path_segment() -> None:
    status = {"task_id": "a/b", "status": "queued", "created_at": "2024-01-01T00:00:00Z"}
    server = Recorder({"/api/generate/status/a/b": httpx.Response(200, json=status)})
    with Client(transport=httpx.MockTransport(server)) as client:
        assert client.jobs.get("a/b").task_id == "a/b"
    assert server.last.url.raw_path == b"/api/generate/status/a%2Fb"
