"""A stand-in generation service for the jobs tests, speaking the real contract:
``POST /api/generation/run`` (a :class:`RunRequest` in, NDJSON :class:`RunEvent` lines out) and
``POST /api/generation/cancel/{run_id}``.

What a run does is steered by words in its prompt: ``steps=N`` progress steps (default 3),
``delay=S`` seconds between them, ``hang`` (one event, then silence), ``drop`` (one event, then
the stream ends without a result), ``fail`` (an error event), ``refuse`` (a 422 before any
event). It answers the input image as the result. ``GET /fake/runs`` tells the tests what ran:
steps done, whether a cancel arrived, whether it finished. Serve it in-process, or as a process:
``python -m retouch.runtime.serve fake_generation:create_app`` with this folder on PYTHONPATH.
An ``asset:`` input is read from the last jobs service in :data:`ASSET_URLS`.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from retouch.runtime.assets import HttpAssetSource, acting_as, resolve
from retouch.runtime.concurrency import run_sync
from retouch.sdk import codec
from retouch.sdk.models.common import Problem
from retouch.sdk.models.generation import CancelRunResponse, ErrorEvent, ProgressEvent, ResultEvent, RunRequest


class RunRecord(msgspec.Struct):
    run_id: str
    prompt: str
    steps_done: int = 0
    total_steps: int = 0
    cancel_requested: bool = False
    finished: str | None = None


def _word(prompt: str, name: str, default: float) -> float:
    match = re.search(rf"\b{name}=([0-9.]+)", prompt)
    return float(match.group(1)) if match else default


#: Jobs services whose assets an ``asset:<id>`` input is read from (the tests add theirs).
ASSET_URLS: list[str] = []


async def _picture(req: RunRequest) -> bytes:
    """The input picture, an ``asset:`` reference read from the jobs service as the run's owner."""
    if not req.input_image.startswith(b"asset:") or not ASSET_URLS:
        return bytes(req.input_image)
    source = HttpAssetSource(ASSET_URLS[-1])
    try:
        with acting_as(req.owner or "anonymous", source):
            return await run_sync(resolve, req.input_image, "input_image")
    finally:
        source.close()


def create_app() -> Starlette:
    runs: dict[str, RunRecord] = {}
    cancels: list[str] = []

    async def run(request: Request) -> Response:
        body = await request.body()
        req = codec.decode(body, RunRequest)
        run_id = req.run_id or "anonymous-run"
        prompt = req.prompt
        if "refuse" in prompt:
            problem = Problem(title="Unprocessable Content", status=422, detail="mask: the fake refuses this run")
            return Response(codec.encode(problem), status_code=422, media_type="application/problem+json")
        total = int(_word(prompt, "steps", 3))
        delay = _word(prompt, "delay", 0.0)
        record = runs.setdefault(run_id, RunRecord(run_id=run_id, prompt=prompt, total_steps=total))
        if run_id in cancels:
            record.cancel_requested = True

        def line(event: Any) -> bytes:
            return codec.encode(event) + b"\n"

        async def events() -> AsyncIterator[bytes]:
            yield line(ProgressEvent(run_id=run_id, stage="loading_model", progress=0.0))
            if "hang" in prompt:
                await asyncio.sleep(3600)
            if "drop" in prompt:
                record.finished = "dropped"
                return
            if "fail" in prompt:
                record.finished = "error"
                problem = Problem(title="Internal Server Error", status=500, detail="the fake engine exploded")
                yield line(ErrorEvent(run_id=run_id, problem=problem))
                return
            for step in range(1, total + 1):
                if record.cancel_requested:
                    record.finished = "cancelled"
                    problem = Problem(title="Conflict", status=409, detail="cancelled")
                    yield line(ErrorEvent(run_id=run_id, problem=problem))
                    return
                if delay:
                    await asyncio.sleep(delay)
                record.steps_done = step
                yield line(
                    ProgressEvent(
                        run_id=run_id,
                        stage="denoising",
                        progress=step / total,
                        current_step=step,
                        total_steps=total,
                    )
                )
            picture = await _picture(req)
            with Image.open(io.BytesIO(picture)) as image:
                width, height = image.size
                out = io.BytesIO()
                image.convert("RGB").save(out, format="PNG")
            record.finished = "done"
            yield line(
                ResultEvent(
                    run_id=run_id,
                    image=out.getvalue(),  # type: ignore[arg-type]
                    width=width,
                    height=height,
                    seed=req.seed if req.seed is not None else 7,
                    engine="fake",
                    timings={"total": 0.01},
                )
            )

        return StreamingResponse(events(), media_type="application/x-ndjson")

    async def cancel(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        cancels.append(run_id)
        record = runs.get(run_id)
        if record is None:
            return Response(
                codec.encode(Problem(title="Not Found", status=404, detail=f"no run {run_id}")),
                status_code=404,
                media_type="application/problem+json",
            )
        record.cancel_requested = True
        return Response(codec.encode(CancelRunResponse(run_id=run_id)), media_type="application/json")

    async def listing(request: Request) -> Response:
        return JSONResponse({"runs": [msgspec.to_builtins(r) for r in runs.values()], "cancels": cancels})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "healthy", "service": "generation", "version": "fake"})

    return Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            Route("/api/generation/run", run, methods=["POST"]),
            Route("/api/generation/cancel/{run_id}", cancel, methods=["POST"]),
            Route("/fake/runs", listing, methods=["GET"]),
        ]
    )
