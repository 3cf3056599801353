"""What a submit checks without the model (API.md): every picture decodes in full (a truncated
file is a 422 now, not a failed job later), and a named engine is one the generation service
serves."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, b64, body, png
from loopback import free_port
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _post(url: str, payload: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{url}/api/generate/async", json=payload, timeout=30)


def _truncated(data: bytes) -> bytes:
    # The header (and its size) is intact; the pixel data stops half-way.
    return data[: len(data) // 2]


def _noisy_png() -> bytes:
    image = Image.effect_noise((32, 24), 60).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_a_truncated_input_image_is_422_at_submit(jobs: ServerThread) -> None:
    response = _post(jobs.url, body(input_image=b64(_truncated(_noisy_png()))))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "input_image" in detail and "truncated or corrupt" in detail


def test_a_truncated_reference_image_is_422_at_submit(jobs: ServerThread) -> None:
    payload = body(task_type="insertion", prompt="a cup", reference_image=b64(_truncated(_noisy_png())))
    response = _post(jobs.url, payload)
    assert response.status_code == 422, response.text
    assert "reference_image" in response.json()["detail"]


def test_a_whole_picture_is_accepted(jobs: ServerThread) -> None:
    assert _post(jobs.url, body(input_image=b64(png()))).status_code == 202


@pytest.fixture
def generation_serving() -> Iterator[str]:
    """A generation service that answers only its health check, serving classic and lama."""

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "healthy", "service": "generation", "version": "0", "engines": ["classic", "lama"]}
        )

    server = ServerThread(Starlette(routes=[Route("/api/health", health)])).start()
    yield server.url
    server.stop()


def test_an_engine_the_generation_service_does_not_serve_is_422(
    jobs_server: JobsFactory, generation_serving: str
) -> None:
    server = jobs_server(generation_service_url=generation_serving)
    response = _post(server.url, body(engine="magic"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "unknown engine 'magic'" in detail and "classic, lama" in detail
    assert _post(server.url, body(engine="lama")).status_code == 202


def test_a_named_engine_is_accepted_while_generation_is_away(jobs_server: JobsFactory) -> None:
    # Nothing can say which engines exist: the job is accepted and waits (checked when it runs).
    server = jobs_server(generation_service_url=f"http://127.0.0.1:{free_port()}")
    assert _post(server.url, body(engine="classic")).status_code == 202


def test_json_nested_1000_deep_is_422_not_500(jobs: ServerThread) -> None:
    nested = b'{"prompt": "", "task_type": "removal", "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = httpx.post(
        f"{jobs.url}/api/generate/async", content=nested, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 422, response.text
    assert "nested too deeply" in response.json()["detail"]
