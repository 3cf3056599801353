"""A body, stream line or event that breaks the contract raises the SDK's own
:class:`APIResponseValidationError` (a :class:`RetouchError`), never a msgspec error."""

from __future__ import annotations

import httpx
import pytest

from retouch.sdk import APIResponseValidationError, AsyncClient, Client, RetouchError
from retouch.sdk.models.generation import GenerationRequest, RunRequest

PNG = b"\x89PNG\r\n\x1a\n"


def _server(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/api/generate":
        return httpx.Response(200, json={"task_id": 7, "status": ["not", "a", "status"]})
    if path == "/api/generation/run":
        return httpx.Response(200, content=b"this line is not JSON\n", headers={"content-type": "application/x-ndjson"})
    if path.startswith("/api/generate/stream/"):
        body = b'id: 1\ndata: {"type": "progress", "progress": "half"}\n\n'
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    return httpx.Response(404, json={"detail": "no such route", "status": 404})


def _request() -> GenerationRequest:
    return GenerationRequest(prompt="", input_image=PNG, task_type="white-balance")


def test_a_sync_generate_answer_that_breaks_the_contract() -> None:
    client = Client(transport=httpx.MockTransport(_server), max_retries=0)
    with client, pytest.raises(APIResponseValidationError) as caught:
        client.jobs.generate(_request())
    assert isinstance(caught.value, RetouchError)
    assert "POST /api/generate" in str(caught.value) and caught.value.response is not None


def test_a_generation_stream_line_that_is_not_an_event() -> None:
    client = Client(transport=httpx.MockTransport(_server), max_retries=0)
    with client, pytest.raises(APIResponseValidationError, match="generation stream"):
        client.generation.run(RunRequest(prompt="", input_image=PNG, task_type="white-balance"))


def test_a_job_event_that_is_not_a_job_event() -> None:
    client = Client(transport=httpx.MockTransport(_server), max_retries=0)
    with client, pytest.raises(APIResponseValidationError, match="job stream"):
        list(client.jobs.stream("t1"))


async def test_the_async_client_wraps_them_alike() -> None:
    async with AsyncClient(transport=httpx.MockTransport(_server), max_retries=0) as client:
        with pytest.raises(APIResponseValidationError):
            await client.jobs.generate(_request())
        with pytest.raises(APIResponseValidationError):
            await client.generation.run(RunRequest(prompt="", input_image=PNG, task_type="white-balance"))
        with pytest.raises(APIResponseValidationError):
            [event async for event in client.jobs.stream("t1")]
