"""Configuration of the generation service, read once from the environment."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import ClassVar, Literal

from retouch.runtime.models import find_installed
from retouch.runtime.settings import ServiceSettings, SettingsError, env_name, env_names

__all__ = ["ENGINE_NAMES", "ENGINE_TASKS", "PROFILE_NAMES", "TASKS", "GenerationSettings"]

#: Engines this package provides.
ENGINE_NAMES = ("classic", "qwen", "lama")
#: Tasks of the engines that cannot do every task (the others do all of :data:`TASKS`).
ENGINE_TASKS: dict[str, tuple[str, ...]] = {"lama": ("removal",)}
#: The edit tasks of the contract (``GenerationRequest.task_type``).
TASKS = ("removal", "insertion", "white-balance")
#: Conditioning profiles of model engines (``retouch.generation.conditioning``).
PROFILE_NAMES = ("seed", "instruct")


class GenerationSettings(ServiceSettings, kw_only=True):
    """Everything ``RETOUCH_GENERATION_*`` / ``RETOUCH_QWEN_*`` / ``RETOUCH_CLASSIC_*`` configures."""

    __env__: ClassVar[dict[str, str]] = env_names(
        "RETOUCH_GENERATION_",
        (
            "engine",
            "extra_engines",
            "max_concurrent_runs",
            "max_queued_runs",
            "working_size",
            "max_original_side",
            "composite_grow_px",
            "brush_grow_px",
            "composite_shadow_share",
        ),
    )

    #: The engine that serves requests without an ``engine`` field. ``auto``: ``lama`` (with
    #: ``classic`` beside it for the other tasks) when LaMa's weights are installed in the models
    #: directory or named by ``RETOUCH_LAMA_MODEL``, else ``classic``; resolved at start-up.
    engine: Literal["auto", "classic", "qwen", "lama"] = "auto"
    #: Further engines the same process serves on request (``engine`` field), e.g. ``classic``
    #: beside ``qwen``: classic needs no weights, so offering it costs nothing.
    extra_engines: list[Literal["classic", "qwen", "lama"]] = []
    #: Model runs at once in this process; further runs wait (their stream says ``queued``).
    max_concurrent_runs: int = 1
    #: Runs allowed to wait for a slot; past that a run is refused with 503 and ``Retry-After``.
    max_queued_runs: int = 16
    #: Side of the square a model works at when ``input_quality`` is ``resized`` (letterboxed).
    working_size: int = 1024
    #: Longest side a model works at when ``input_quality`` is ``original``.
    max_original_side: int = 2048
    #: Pixels the edit mask grows by before compositing; outside that band the output keeps the
    #: input's pixels bit for bit.
    composite_grow_px: int = 8
    #: Pixels a ``brush`` mask is grown by before editing (brush strokes hug the object's edge,
    #: leaving its halo outside; a ``box`` already includes margin and is not grown).
    brush_grow_px: int = 6

    #: Removal of the classic engine: ``exemplar`` (the picture's own patches: texture continues),
    #: or OpenCV's smooth diffusion fills ``telea`` (fast marching) and ``ns`` (Navier-Stokes).
    classic_inpaint_method: Literal["exemplar", "telea", "ns"] = "exemplar"
    #: Radius (pixels) each inpainted pixel looks around.
    classic_inpaint_radius: int = 5
    #: How the classic engine blends an inserted object: feathered ``alpha`` (keeps the object's
    #: colours exactly) or ``poisson`` (no seam, but the object's colours drift towards the scene's).
    classic_blend: Literal["poisson", "alpha"] = "alpha"
    #: Opacity (0..1) of the soft contact shadow under an inserted object; 0 turns it off.
    classic_shadow_opacity: float = 0.35

    #: Local directory of a ``QwenImageEditPlusPipeline`` (``save_pretrained`` layout).
    qwen_model_dir: Path | None = None
    #: One LoRA file per task: ``removal=/w/removal.safetensors,insertion=...,white-balance=...``.
    #: A task without an adapter is refused (422); it never runs on the bare base model.
    qwen_loras: dict[str, str] = {}
    #: ``cuda``, ``cuda:1``, ``cpu``, ...; unset: CUDA when available, else CPU.
    qwen_device: str | None = None
    #: Classifier-free guidance scale when a request gives none.
    qwen_default_cfg_scale: float = 4.0
    #: Longest tokenised prompt.
    qwen_max_sequence_length: int = 512
    #: Pixel area each condition image is resized to for the VAE, and for the vision-language
    #: encoder. Leave unset for Qwen-Image-Edit-2509 (the pipeline's own 1024x1024 and 384x384);
    #: tiny test models set small values so that CPU runs stay fast.
    qwen_vae_image_area: int | None = None
    qwen_condition_image_area: int | None = None
    #: Conditioning profile per task (``removal=seed,insertion=instruct``): ``seed`` shows the model
    #: exactly what the seed's LoRAs were trained on, ``instruct`` the picture, mask and cut-out with
    #: a descriptive instruction. Unset tasks: ``seed`` where the task has a LoRA, else ``instruct``.
    qwen_profiles: dict[str, str] = {}
    #: The prompt a task's LoRA was trained on, where it is not its profile's default
    #: (``insertion=add the object,white-balance=fix the colours``; no commas): the ``seed`` profile always
    #: sends it, ``instruct`` when the request has no prompt.
    qwen_prompts: dict[str, str] = {}
    #: The Qwen-Image-Lightning LoRA for ``quality="fast"`` (few steps, no CFG); unset: no fast mode.
    qwen_lightning_lora: str | None = None
    #: Steps of the Lightning LoRA's distillation (4 or 8: the file's own number).
    qwen_lightning_steps: int = 8
    #: ``fast`` or ``best`` for requests that do not say; unset: ``fast`` when a Lightning LoRA is
    #: configured, else ``best``.
    qwen_quality: Literal["fast", "best"] | None = None
    #: Compile the transformer's repeated blocks (``torch.compile``; adapters are then hot-swapped
    #: so a task switch never recompiles). Set TORCHINDUCTOR_CACHE_DIR to a persistent place.
    qwen_compile: bool = False
    #: ``torch.compile`` backend of that (``inductor``; tests use ``eager``).
    qwen_compile_backend: str = "inductor"
    #: Fail start-up when a task's LoRA does not load or touches no layer (default: the service
    #: starts and health reports that task unavailable, with the reason).
    qwen_strict_loras: bool = False
    #: Engine that pre-fills the hole for the ``seed`` removal profile (``lama``, ``classic``);
    #: unset: the best one available here (LaMa when it loads, else classic).
    qwen_prefill_engine: str | None = None
    #: The band below an edit that a model's output may also change, as a share of the mask's
    #: height (shadows and reflections next to the object), beside ``composite_grow_px`` all round.
    composite_shadow_share: float = 0.35

    #: The big-lama TorchScript file (``big-lama.pt``); unset: the one installed in the models
    #: directory (``retouch-local models pull lama``).
    lama_model: Path | None = None
    #: ``cuda``, ``cuda:1``, ``cpu``, ...; unset: CUDA when available, else CPU.
    lama_device: str | None = None
    #: Pixels of context around the mask's box that LaMa sees (more for large masks).
    lama_crop_margin: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.engine == "auto":
            # An installed model is picked up by itself: LaMa removes, classic does the rest.
            # (Only where torch is installed: retouch-generation[lama].)
            if self.lama_weights() is not None and importlib.util.find_spec("torch") is not None:
                self.engine = "lama"
                self.extra_engines = [name for name in self.extra_engines if name != "lama"] or ["classic"]
            else:
                self.engine = "classic"
        self.require(
            positive=("max_concurrent_runs", "working_size", "max_original_side", "classic_inpaint_radius"),
            non_negative=("max_queued_runs", "composite_grow_px", "brush_grow_px", "lama_crop_margin"),
        )
        if self.working_size % 16 or self.max_original_side % 16:
            raise SettingsError(
                "RETOUCH_GENERATION_WORKING_SIZE and RETOUCH_GENERATION_MAX_ORIGINAL_SIDE must be multiples of 16"
            )
        if not 0.0 <= self.classic_shadow_opacity <= 1.0:
            raise SettingsError(
                f"RETOUCH_CLASSIC_SHADOW_OPACITY must be within 0..1, got {self.classic_shadow_opacity}"
            )
        for per_task in ("qwen_loras", "qwen_prompts", "qwen_profiles"):
            unknown = sorted(set(getattr(self, per_task)) - set(TASKS))
            if unknown:
                raise SettingsError(
                    f"{env_name(type(self), per_task)} names unknown tasks {unknown}; tasks are {list(TASKS)}"
                )
        bad = sorted({profile for profile in self.qwen_profiles.values()} - set(PROFILE_NAMES))
        if bad:
            raise SettingsError(
                f"RETOUCH_QWEN_PROFILES names unknown profiles {bad}; profiles are {list(PROFILE_NAMES)}"
            )
        if self.qwen_lightning_steps not in (4, 8):
            raise SettingsError(f"RETOUCH_QWEN_LIGHTNING_STEPS must be 4 or 8, got {self.qwen_lightning_steps}")
        if not 0.0 <= self.composite_shadow_share <= 2.0:
            raise SettingsError(
                f"RETOUCH_GENERATION_COMPOSITE_SHADOW_SHARE must be within 0..2, got {self.composite_shadow_share}"
            )
        for area in ("qwen_vae_image_area", "qwen_condition_image_area"):
            value = getattr(self, area)
            if value is not None and value < 32 * 32:
                raise SettingsError(f"{env_name(type(self), area)} must be at least 1024 pixels, got {value}")

    @property
    def engines(self) -> tuple[str, ...]:
        """Every engine this process serves, the default first."""
        return tuple(dict.fromkeys([self.engine, *self.extra_engines]))

    def default_engine(self, task: str) -> str:
        """The engine for a ``task`` request that names none: the first served one that can do it
        (the default engine if none can, which then refuses the request with its reason)."""
        return next((name for name in self.engines if task in ENGINE_TASKS.get(name, TASKS)), self.engine)

    def lama_weights(self) -> Path | None:
        """The big-lama file: ``RETOUCH_LAMA_MODEL``, else the one installed, else ``None``."""
        if self.lama_model is not None:
            return self.lama_model
        installed = find_installed(self.models_dir, engine="lama")
        return installed.path if installed is not None else None
