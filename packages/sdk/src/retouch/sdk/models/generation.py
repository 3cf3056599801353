"""The generation contract: what an edit asks for, and what the generation service streams back.

``GenerationRequest`` is the public request of API.md (the jobs service accepts it at
``/api/generate*``). The generation service itself (internal) takes a :class:`RunRequest` at
``POST /api/generation/run`` and answers with NDJSON: :class:`ProgressEvent` lines, then exactly
one :class:`ResultEvent` or :class:`ErrorEvent`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.common import Problem

__all__ = [
    "MODAL_CANCEL_DICT",
    "MODAL_EVENTS_QUEUE",
    "MODAL_GENERATION_APP",
    "MODAL_WORKER_FUNCTION",
    "CancelRunResponse",
    "ErrorEvent",
    "GenerationRequest",
    "ProgressEvent",
    "ResultEvent",
    "RunEvent",
    "RunRequest",
    "Stage",
    "TaskType",
    "WebhookEvent",
]

#: The kinds of edit (API.md: required, no default).
TaskType = Literal["removal", "insertion", "white-balance"]
#: Where a run is: the job's queue, then the engine's stages.
Stage = Literal["queued", "loading_model", "preprocessing", "denoising", "postprocessing"]

#: Longest prompt the schema accepts (services may configure a lower limit).
MAX_PROMPT_CHARS = 4000
#: The longest ``webhook`` URL accepted.
MAX_WEBHOOK_URL_CHARS = 2048
#: Extra moments a webhook can be asked for besides the terminal states (``webhook_events``).
WebhookEvent = Literal["start"]


#: The longest ``mask_image`` string accepted (the body limit applies first; this bounds the field).
MAX_MASK_IMAGE_CHARS = 512 * 1024 * 1024


class GenerationRequest(msgspec.Struct, kw_only=True):
    """One edit of ``input_image``. Unknown fields are ignored; every accepted field is honoured
    or rejected, never silently ignored."""

    prompt: Annotated[str, msgspec.Meta(max_length=MAX_PROMPT_CHARS)]
    input_image: Base64Bytes
    task_type: TaskType
    #: White (>127) marks what to edit; required for removal and insertion.
    mask: Base64Bytes | None = None
    #: Alternative to ``mask``: the first element is the mask, further ones are extra conditions.
    conditional_images: list[Base64Bytes] | None = None
    #: Insertion from a reference: the picture holding the object, and the object's mask on it.
    reference_image: Base64Bytes | None = None
    reference_mask_R: Base64Bytes | None = None
    num_inference_steps: Annotated[int, msgspec.Meta(ge=1, le=100)] = 28
    true_cfg_scale: Annotated[float, msgspec.Meta(ge=0, le=50)] | None = None
    guidance_scale: Annotated[float, msgspec.Meta(ge=0, le=50)] | None = None
    negative_prompt: Annotated[str, msgspec.Meta(max_length=MAX_PROMPT_CHARS)] | None = None
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | None = None
    input_quality: Literal["resized", "original"] = "resized"
    mask_tool_type: Literal["brush", "box"] = "brush"
    #: Engine override where the deployment offers several (e.g. ``classic``, ``qwen``).
    engine: str | None = None
    #: Model engines: ``fast`` (a few distilled steps, no CFG) or ``best`` (the full schedule);
    #: ``None``: the deployment's default. Engines without the distinction ignore it.
    quality: Literal["fast", "best"] | None = None
    #: An ``http(s)`` URL that gets a signed POST (Standard Webhooks) of the status answer at the
    #: job's terminal state; needs a webhook secret configured for the caller's API key.
    webhook: Annotated[str, msgspec.Meta(max_length=MAX_WEBHOOK_URL_CHARS)] | None = None
    #: Further moments to POST to ``webhook``: ``"start"`` (the job began processing).
    webhook_events: Annotated[list[WebhookEvent], msgspec.Meta(max_length=4)] = []
    #: The seed system's refinement pass (its client sends ``true``); no engine here has it, so the
    #: result's ``parameters_used`` reports it as not applied, with a note.
    enable_mae_refinement: bool | None = None
    #: Ask for the result's ``debug_info`` (timings and notes of the run).
    enable_debug: bool = False
    #: The seed client's copy of the mask (base64 or a ``data:`` URL; ``""``: none): the mask when
    #: neither ``mask`` nor ``conditional_images`` is given, else it must be the same picture.
    mask_image: Annotated[str, msgspec.Meta(max_length=MAX_MASK_IMAGE_CHARS)] | None = None


class RunRequest(GenerationRequest, kw_only=True):
    """``POST /api/generation/run`` body: a request plus the caller's id for cancelling it."""

    run_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:\-]{1,128}$")] | None = None
    #: Whose job this is (set by the jobs service): the owner whose ``asset:`` references the run
    #: may read. Sent as ``X-Retouch-Owner`` too, which the generation service acts on.
    owner: str | None = None


class ProgressEvent(msgspec.Struct, kw_only=True, tag="progress", tag_field="type"):
    """The run moved: a new stage, or one more denoising step."""

    run_id: str
    stage: Stage
    progress: float = 0.0
    current_step: int | None = None
    total_steps: int | None = None
    message: str | None = None


class ResultEvent(msgspec.Struct, kw_only=True, tag="result", tag_field="type"):
    """The run finished: the edited image (PNG, the input's size) and what produced it."""

    run_id: str
    image: Base64Bytes
    width: int
    height: int
    seed: int | None = None
    engine: str | None = None
    timings: dict[str, float] = {}
    #: What the caller should know about how the request was honoured (e.g. fields an engine
    #: does not use), so nothing is ignored silently.
    notes: list[str] = []
    #: Set (with an empty ``image``) when the image was too large for the event channel: the key
    #: of the blob holding it (the Modal worker writes big results to the jobs' blob Volume).
    image_blob: str | None = None


class ErrorEvent(msgspec.Struct, kw_only=True, tag="error", tag_field="type"):
    """The run ended without an image: failed, or ``cancelled`` (``problem.detail == "cancelled"``,
    status 409)."""

    run_id: str
    problem: Problem


#: One NDJSON line of ``POST /api/generation/run``, tagged by ``type``.
RunEvent = ProgressEvent | ResultEvent | ErrorEvent


class CancelRunResponse(msgspec.Struct, kw_only=True):
    """``POST /api/generation/cancel/{run_id}``: the run was found and told to stop."""

    run_id: str
    cancelled: bool = True


# -- The Modal progress channel (deploy): the jobs service spawns the generation worker function,
# which puts each encoded RunEvent on this queue, partition = run_id, and polls the cancel dict
# (key run_id -> True) between steps. No web request has to outlive Modal's 150 s limit.
#: The ``modal.Queue`` the worker puts each run's events on (partition = run_id).
MODAL_EVENTS_QUEUE = "retouch-run-events"
#: The ``modal.Dict`` the worker polls between steps (run_id -> True cancels).
MODAL_CANCEL_DICT = "retouch-run-cancel"
#: The deployed worker: ``modal.Function.from_name(MODAL_GENERATION_APP, MODAL_WORKER_FUNCTION)``,
#: called as ``.spawn(run_request_json: bytes)``.
MODAL_GENERATION_APP = "retouch-generation"
#: The worker function's name in :data:`MODAL_GENERATION_APP`.
MODAL_WORKER_FUNCTION = "generation_worker"
