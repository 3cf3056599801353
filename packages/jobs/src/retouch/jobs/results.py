"""What a finished job's result says besides the image (API.md, ``GET /api/generate/result``): the
seed echoed, ``generation_time``, ``model_used`` and ``parameters_used``, and ``debug_info`` when
the request asked for it with ``enable_debug``.

``parameters_used`` is what the run actually used, so a field that was accepted but could not be
honoured says so: the seed client's ``enable_mae_refinement`` (the seed's refinement pass, which no
engine here has) is reported as not applied, with a note, rather than silently dropped.
"""

from __future__ import annotations

import io
from typing import Any, Final

from PIL import Image

from retouch.jobs.state import Job, ResultMeta
from retouch.sdk import codec
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.generation import GenerationRequest, ResultEvent
from retouch.sdk.models.jobs import JobResult

__all__ = [
    "CANCELLED_IMAGE",
    "MAE_NOTE",
    "cancelled_result",
    "decode_request",
    "job_result",
    "parameters_used",
    "result_meta",
]

#: Why ``enable_mae_refinement`` is reported as not applied.
MAE_NOTE = "enable_mae_refinement: no engine of this deployment has the MAE refinement pass; not applied"


def decode_request(data: bytes | None) -> GenerationRequest | None:
    """The stored request of a job (``None`` if it is gone or unreadable: the result is still kept)."""
    if data is None:
        return None
    try:
        return codec.decode(data, GenerationRequest)
    except Exception:
        return None


def parameters_used(request: GenerationRequest | None, event: ResultEvent) -> tuple[dict[str, Any], list[str]]:
    """The parameters the run used, and notes on how the request was honoured."""
    notes = list(event.notes)
    if request is None:
        return {"engine": event.engine, "seed": event.seed}, notes
    if request.enable_mae_refinement:
        notes.append(MAE_NOTE)
    used: dict[str, Any] = {
        "task_type": request.task_type,
        "engine": event.engine,
        "num_inference_steps": request.num_inference_steps,
        "guidance_scale": request.guidance_scale,
        "true_cfg_scale": request.true_cfg_scale,
        "seed": event.seed if event.seed is not None else request.seed,
        "input_quality": request.input_quality,
        "mask_tool_type": request.mask_tool_type,
        "quality": request.quality,
        "negative_prompt": request.negative_prompt,
        "enable_mae_refinement": False,
        "enable_debug": request.enable_debug,
    }
    return used, notes


def result_meta(blob: str, event: ResultEvent, request: GenerationRequest | None, elapsed: float | None) -> ResultMeta:
    """The stored description of a run's result; ``elapsed`` is the job's processing time (s)."""
    used, notes = parameters_used(request, event)
    total = event.timings.get("total_s")
    generation_time = round(total if total is not None else (elapsed or 0.0), 4)
    debug: dict[str, Any] | None = None
    if request is not None and request.enable_debug:
        debug = {"timings": dict(event.timings), "notes": notes, "engine": event.engine, "run_id": event.run_id}
    return ResultMeta(
        blob=blob,
        width=event.width,
        height=event.height,
        seed=used["seed"],
        engine=event.engine,
        timings=event.timings,
        generation_time=generation_time,
        parameters=used,
        notes=notes,
        debug=debug,
    )


def _transparent_pixel() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


#: ``GET /api/generate/result-image/{id}`` of a cancelled job: one transparent pixel (with the
#: header ``X-Retouch-Status: cancelled``), so a client that fetches it after its cancel gets a 200.
CANCELLED_IMAGE: Final = _transparent_pixel()


def job_result(job: Job, image: bytes) -> JobResult:
    """The result answer of a finished (``done``) job whose picture is ``image``."""
    meta = job.result
    assert meta is not None
    return JobResult(
        task_id=job.task_id,
        status=job.status,
        image=Base64Bytes(image),
        width=meta.width,
        height=meta.height,
        seed=meta.seed,
        timings=meta.timings,
        engine=meta.engine,
        image_asset=meta.blob.split("/")[1] if meta.blob.startswith("assets/") else None,
        generation_time=meta.generation_time,
        model_used=meta.engine,
        parameters_used=meta.parameters,
        notes=meta.notes,
        debug_info=meta.debug,
    )


def cancelled_result(job: Job) -> JobResult:
    """The result answer of a cancelled job: 200, ``status: "cancelled"``, no picture."""
    return JobResult(
        task_id=job.task_id,
        status=job.status,
        image=Base64Bytes(b""),
        width=0,
        height=0,
        notes=[job.error or "cancelled"],
    )
