"""``client.jobs`` and ``client.edit`` (sync and async) against a loopback jobs service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, fake_runs, mask_png, png, wait_status, wait_until

from retouch.sdk import AsyncClient, Client, ConflictError, NotFoundError, UnprocessableEntityError
from retouch.sdk.models.generation import GenerationRequest
from retouch.sdk.models.jobs import JobEvent, JobResult, JobSubmitted
from retouch.sdk.resources.jobs import JobCancelledError, JobFailedError, SSEParser


def request(prompt: str = "", **fields: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, input_image=png(), task_type="removal", mask=mask_png(), **fields)  # type: ignore[arg-type]


@pytest.fixture
def client(jobs: ServerThread) -> Iterator[Client]:
    with Client(jobs.url, api_key="") as c:
        yield c


def test_submit_get_stream_result(client: Client) -> None:
    submitted = client.jobs.submit(request("steps=3"))
    assert isinstance(submitted, JobSubmitted) and submitted.status == "queued"
    events = list(client.jobs.stream(submitted.task_id))
    assert events[-1].type == "done" and events[-1].done
    assert sum(e.done for e in events) == 1
    assert all(e.id is not None for e in events)
    status = client.jobs.get(submitted.task_id)
    assert status.status == "done" and status.finished_at is not None
    result = client.jobs.result(submitted.task_id)
    assert isinstance(result, JobResult) and (result.width, result.height) == (32, 24)
    assert result.image.startswith(b"\x89PNG")
    assert client.jobs.result_image(submitted.task_id, format="webp").startswith(b"RIFF")
    assert client.jobs.result_image(submitted.task_id, format="jpeg", quality=50).startswith(b"\xff\xd8")


def test_errors_are_the_sdk_classes(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.jobs.get("nope")
    bad = GenerationRequest(prompt="", input_image=png(), task_type="removal")  # type: ignore[arg-type]
    with pytest.raises(UnprocessableEntityError, match="mask"):
        client.jobs.submit(bad)
    done = client.jobs.submit(request())
    client.jobs.wait(done.task_id)
    with pytest.raises(ConflictError, match="nothing to cancel"):
        client.jobs.cancel(done.task_id)


def test_submissions_carry_an_idempotency_key(client: Client) -> None:
    assert client.jobs.submit(request()).task_id != client.jobs.submit(request()).task_id
    one = client.jobs.submit(request(), idempotency_key="mine")
    assert client.jobs.submit(request(), idempotency_key="mine").task_id == one.task_id


def test_edit_waits_and_reports_progress(client: Client) -> None:
    seen: list[JobEvent] = []
    result = client.edit(
        png(), task_type="removal", mask=mask_png(), prompt="steps=10 delay=0.05", on_progress=seen.append, seed=3
    )
    assert client.edit == client.jobs.edit
    assert result.status == "done" and result.seed == 3
    assert seen[-1].type == "done"
    assert [e.current_step for e in seen if e.type == "progress" and e.stage == "denoising"][-1] == 10


def test_edit_raises_for_a_failed_job(client: Client) -> None:
    with pytest.raises(JobFailedError) as caught:
        client.edit(png(), task_type="removal", mask=mask_png(), prompt="fail")
    assert caught.value.status.status == "error"
    assert "the fake engine exploded" in str(caught.value)
    assert not isinstance(caught.value, JobCancelledError)


def test_edit_cancels_the_job_on_ctrl_c(client: Client, jobs: ServerThread, fake_gen: ServerThread) -> None:
    def interrupt(event: JobEvent) -> None:
        if event.type == "progress" and (event.current_step or 0) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.edit(png(), task_type="removal", mask=mask_png(), prompt="steps=200 delay=0.05", on_progress=interrupt)
    run = fake_runs(fake_gen.url)["runs"][-1]
    task_id = str(run["run_id"]).split(".")[0]
    assert wait_status(jobs.url, task_id, "cancelled", "done")["status"] == "cancelled"
    assert int(run["steps_done"]) < 200


def test_the_synchronous_form(jobs_server: JobsFactory) -> None:
    quick = jobs_server()
    with Client(quick.url, api_key="") as c:
        assert isinstance(c.jobs.generate(request()), JobResult)
    slow = jobs_server(sync_wait_s=0.2)
    with Client(slow.url, api_key="") as c:
        answer = c.jobs.generate(request("steps=200 delay=0.05"))
        assert isinstance(answer, JobSubmitted)
        c.jobs.cancel(answer.task_id)


class DropOnce(httpx.BaseTransport):
    """Cuts the first event stream after two events, like a dropped connection."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.stream_requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if "/stream/" not in request.url.path:
            return response
        self.stream_requests.append(request)
        if len(self.stream_requests) > 1:
            return response
        upstream = response.stream

        class Cut(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                buffer, sent = b"", 0
                for chunk in upstream:  # type: ignore[union-attr]
                    buffer += chunk
                    while b"\n\n" in buffer:
                        block, buffer = buffer.split(b"\n\n", 1)
                        yield block + b"\n\n"
                        sent += block.startswith(b"id:")
                        if sent == 2:
                            raise httpx.ReadError("connection dropped")

            def close(self) -> None:
                upstream.close()  # type: ignore[union-attr]

        return httpx.Response(response.status_code, headers=response.headers, stream=Cut(), request=request)


def test_a_dropped_stream_resumes_from_the_last_event(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_running=1)
    transport = DropOnce()
    with Client(server.url, api_key="", transport=transport) as c:
        blocker = c.jobs.submit(request("steps=200 delay=0.05"))
        wait_status(server.url, blocker.task_id, "processing")
        task = c.jobs.submit(request("steps=5 delay=0.05"))
        events: list[JobEvent] = []
        for event in c.jobs.stream(task.task_id):
            events.append(event)
            if len(events) == 1:
                c.jobs.cancel(blocker.task_id)
    ids = [int(e.id or 0) for e in events]
    assert ids == sorted(set(ids)) and events[-1].type == "done"
    assert len(transport.stream_requests) == 2
    assert transport.stream_requests[1].headers["last-event-id"] == events[1].id
    steps = [e.current_step for e in events if e.type == "progress" and e.stage == "denoising"]
    assert steps == [1, 2, 3, 4, 5]


def test_the_sse_parser() -> None:
    parser = SSEParser()
    lines = [
        "retry: 2000",
        "",
        ": heartbeat",
        "",
        "id: 5",
        'data: {"task_id":"t","status":"queued",',
        'data: "created_at":"2024-01-01T00:00:00Z","type":"queued"}',
        "",
    ]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert len(events) == 1 and events[0].id == "5" and events[0].type == "queued"
    assert parser.last_id == "5"


async def test_the_async_client(jobs: ServerThread, fake_gen: ServerThread) -> None:
    async with AsyncClient(jobs.url, api_key="") as c:
        seen: list[str] = []

        async def record(event: JobEvent) -> None:
            seen.append(event.type)

        result = await c.edit(png(), task_type="removal", mask=mask_png(), prompt="steps=3", on_progress=record)
        assert result.status == "done" and seen[-1] == "done"
        submitted = await c.jobs.submit(request("steps=2"))
        events = [e async for e in c.jobs.stream(submitted.task_id)]
        assert events[-1].type == "done"
        assert (await c.jobs.get(submitted.task_id)).status == "done"
        assert (await c.jobs.result(submitted.task_id)).width == 32
        assert (await c.jobs.result_image(submitted.task_id, format="webp")).startswith(b"RIFF")
        assert isinstance(await c.jobs.generate(request()), JobResult)
        with pytest.raises(JobFailedError):
            await c.edit(png(), task_type="removal", mask=mask_png(), prompt="fail")

        long = await c.jobs.submit(request("steps=200 delay=0.05"))
        await asyncio.to_thread(wait_status, jobs.url, long.task_id, "processing")
        assert (await c.jobs.cancel(long.task_id)).status == "cancelled"

        edit = asyncio.ensure_future(
            c.edit(png(), task_type="removal", mask=mask_png(), prompt="steps=200 delay=0.05 tag=async")
        )
        await asyncio.to_thread(
            wait_until, lambda: any("tag=async" in str(r["prompt"]) for r in fake_runs(fake_gen.url)["runs"])
        )
        edit.cancel()
        with pytest.raises(asyncio.CancelledError):
            await edit
        run = next(r for r in fake_runs(fake_gen.url)["runs"] if "tag=async" in str(r["prompt"]))
        task_id = str(run["run_id"]).split(".")[0]
        assert (await c.jobs.get(task_id)).status == "cancelled", "cancelling the awaiting task cancels the job"


def test_the_sse_parser_follows_the_specification() -> None:
    # The last event id persists across blocks (an ``id:``-only block sets it and dispatches
    # nothing); ``retry:`` sets the reconnection delay; a NUL in an id makes the line ignored.
    parser = SSEParser()
    body = 'data: {"task_id":"t","status":"queued","created_at":"2024-01-01T00:00:00Z","type":"queued"}'
    lines = ["id: 7", "", "retry: 1500", "", body, "", "id: 8", "", "id: bad\0id", "", body, ""]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert [e.id for e in events] == ["7", "8"], "an event without its own id takes the last one"
    assert parser.last_id == "8" and parser.retry == 1.5
    assert parser.reconnect_delay(5) == 1.5
    assert parser.feed("retry: soon") is None and parser.retry == 1.5, "a retry that is not digits is ignored"
