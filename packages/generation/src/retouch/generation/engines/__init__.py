"""Edit engines: one module each, all behind the :class:`Engine` protocol.

An engine turns a validated :class:`~retouch.generation.validation.EditJob` into a picture of the
input's size. It reports progress through ``on_progress`` and checks ``cancelled()`` between units
of work (every denoising step for a diffusion model), raising :class:`RunCancelled` when it is set.
Engines are built with :func:`create_engine`, which imports an engine's module (and its heavy
dependencies) only when that engine is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from retouch.generation.settings import ENGINE_NAMES, GenerationSettings
from retouch.generation.validation import EditJob
from retouch.runtime.problems import ProblemError
from retouch.sdk.models.generation import Stage

__all__ = [
    "CancelCheck",
    "EditResult",
    "Engine",
    "RunCancelled",
    "StageCallback",
    "check_cancelled",
    "create_engine",
    "prompt_free_notes",
]

#: Returns ``True`` once the run should stop (polled between steps; the runtime's
#: ``CancelToken.is_set`` is one). Not to be confused with ``retouch.runtime.cancel.Cancelled``, the
#: exception a cancelled smart-mask request raises.
CancelCheck = Callable[[], bool]


class StageCallback(Protocol):
    """Receives an engine's progress: its stage and, while denoising, the step."""

    def __call__(
        self, stage: Stage, current_step: int | None = None, total_steps: int | None = None, message: str | None = None
    ) -> None:
        """Report ``stage`` and, while denoising, step ``current_step`` of ``total_steps``."""
        ...


class RunCancelled(ProblemError):
    """The run was cancelled (by the caller, or because its client went away): 409 ``cancelled``."""

    def __init__(self) -> None:
        super().__init__(409, "cancelled")


def check_cancelled(cancelled: CancelCheck) -> None:
    """Raise :class:`RunCancelled` if the run should stop."""
    if cancelled():
        raise RunCancelled()


def prompt_free_notes(job: EditJob, engine: str, *, also: str = "") -> list[str]:
    """The result note of a deterministic, prompt-free engine naming the model-only fields the
    request set, which it accepts (clients always send them) but cannot use."""
    unused = [
        name
        for name, value in (
            ("prompt", job.prompt or None),
            ("negative_prompt", job.negative_prompt),
            ("true_cfg_scale", job.true_cfg_scale),
            ("guidance_scale", job.guidance_scale),
            ("seed", job.seed),
        )
        if value is not None
    ]
    if not unused:
        return []
    fields = ", ".join(unused) + (f" and {also}" if also else "")
    return [f"the {engine} engine is deterministic and prompt-free: {fields} do not change its output"]


@dataclass
class EditResult:
    """An engine's output: the edited picture (the input's size, RGB) and what made it."""

    image: Image.Image
    seed: int | None = None
    notes: list[str] = field(default_factory=list)
    #: Where the output replaces the input when that is not the job's mask (mode L, the input's
    #: size): a model's edit region also covers the shadow and reflection next to the object.
    composite_mask: Image.Image | None = None


class Engine(Protocol):
    """What the runner needs from an engine."""

    #: The name requests use (``engine`` field) and health reports.
    name: str
    #: Where it computes: ``cpu``, ``cuda``, ``cuda:0``...
    device: str

    def load(self) -> None:
        """Load weights (blocking, once per process, before the first edit)."""

    def check(self, job: EditJob) -> None:
        """Refuse (4xx) a job this engine cannot do, before any model work."""

    def edit(self, job: EditJob, on_progress: StageCallback, cancelled: CancelCheck) -> EditResult:
        """Do the edit; raise :class:`RunCancelled` as soon as ``cancelled()`` says so."""
        ...


def create_engine(name: str, settings: GenerationSettings) -> Engine:
    """The engine called ``name``, configured by ``settings`` (not loaded yet)."""
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {name!r}; engines are {', '.join(ENGINE_NAMES)}")
    module = importlib.import_module(f"retouch.generation.engines.{name}")
    engine: Engine = module.create(settings)
    return engine
