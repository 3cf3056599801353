"""The Qwen-Image-Edit engine: diffusers' ``QwenImageEditPlusPipeline`` with one LoRA per task.

Loading (once per process, :meth:`QwenEngine.load`):

- the pipeline from ``RETOUCH_QWEN_MODEL_DIR``, bf16 on CUDA (each weight read straight onto the GPU
  with ``device_map``: no copy of the whole model in host memory first), fp32 on CPU;
- each task's LoRA (``RETOUCH_QWEN_LORAS``) as an adapter named after its task, then **checked**:
  an adapter that did not load, or whose keys touch none of the transformer's layers, leaves its
  task unavailable with the reason (health says so; ``RETOUCH_QWEN_STRICT_LORAS`` fails start-up
  instead). A task without a LoRA is edited by the base model from an instruction prompt;
- the Lightning LoRA (``RETOUCH_QWEN_LIGHTNING_LORA``) for ``quality="fast"``: 4 or 8 steps with its
  own scheduler configuration and no CFG (one transformer pass a step);
- with ``RETOUCH_QWEN_COMPILE`` the transformer's repeated blocks are compiled; adapters are then
  hot-swapped into fixed slots (``task``, ``lightning``), so a task switch changes weights, never
  the compiled graph.

A run crops the picture around the mask to the model's native area at the crop's aspect ratio
(:mod:`retouch.generation.letterbox`), builds the task's conditioning profile
(:mod:`retouch.generation.conditioning`), denoises with progress from ``callback_on_step_end``
(which also raises :class:`~retouch.generation.engines.RunCancelled` between steps), and pastes the
output back into the full-resolution input; the runner then composites it over the edit region, so
pixels far from the mask stay the input's own. ``seed`` seeds a CPU ``torch.Generator`` (same seed,
same picture on any device); without one a seed is drawn and reported.

torch and diffusers are imported here and nowhere else.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from PIL import Image

from retouch.generation.compositing import edit_region
from retouch.generation.conditioning import PROFILES, Framed, Profiled, mask_bbox
from retouch.generation.engines import (
    CancelCheck,
    EditResult,
    Engine,
    RunCancelled,
    StageCallback,
    check_cancelled,
)
from retouch.generation.letterbox import CropPlan, paste_back, paste_back_colour, plan_crop
from retouch.generation.settings import ENGINE_NAMES, TASKS, GenerationSettings
from retouch.generation.validation import EditJob
from retouch.runtime.devices import torch_device
from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.settings import SettingsError
from retouch.sdk.models.generation import RunRequest

__all__ = [
    "LIGHTNING_SCHEDULER",
    "AdapterState",
    "QwenEngine",
    "create",
    "lora_layer_names",
    "lora_rank",
]

log = logging.getLogger("retouch.generation.qwen")

#: While a model loads, peft and transformers patch process-wide hooks (``register_parameter``
#: for empty-weight initialisation); a second load in another thread would run into them.
_LOAD_LOCK = threading.Lock()

#: The scheduler Qwen-Image-Lightning was distilled with (its README): shift 3, exponential time shift.
LIGHTNING_SCHEDULER: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": math.log(3),
    "invert_sigmas": False,
    "max_image_seq_len": 8192,
    "max_shift": math.log(3),
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": None,
    "stochastic_sampling": False,
    "time_shift_type": "exponential",
    "use_beta_sigmas": False,
    "use_dynamic_shifting": True,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}
#: The contract's default ``num_inference_steps``: a request that leaves it there lets the profile
#: (or the Lightning LoRA) decide.
SCHEMA_STEPS: int = next(f.default for f in msgspec.structs.fields(RunRequest) if f.name == "num_inference_steps")
#: Adapter slots of a compiled transformer (hot-swapped; see the module's docstring).
TASK_SLOT = "task"
LIGHTNING = "lightning"
#: Pixel area the pipeline gives its condition latents unless configured otherwise.
PIPELINE_AREA = 1024 * 1024


@dataclass
class AdapterState:
    """How this service does one task: with a LoRA adapter, with the base model, or not at all."""

    task: str
    #: ``lora``: its adapter is loaded and touches the transformer; ``base``: no LoRA configured,
    #: the base model edits from an instruction; ``unavailable``: its LoRA failed (see ``detail``).
    mode: str
    path: str | None = None
    #: Transformer layers the adapter changes.
    layers: int = 0
    detail: str = ""

    def describe(self) -> str:
        """One line for health."""
        if self.mode == "lora":
            return f"lora ({self.layers} layers{'; ' + self.detail if self.detail else ''})"
        if self.mode == "base":
            return "base model (no LoRA configured)"
        return f"unavailable: {self.detail}"


def _lora_keys(path: str) -> list[str]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as handle:
        return list(handle.keys())


def lora_layer_names(path: str) -> set[str]:
    """The layers a LoRA file has weights for (key prefixes before ``.lora_A`` / ``.lora_down``)."""
    names = set()
    for key in _lora_keys(path):
        for marker in (".lora_A.", ".lora_down.", ".lora_A", ".lora_down"):
            if marker in key:
                names.add(key.split(marker, 1)[0])
                break
    return names


def lora_rank(path: str) -> int:
    """The largest rank in a LoRA file (rows of its ``lora_A`` / ``lora_down`` matrices)."""
    from safetensors import safe_open

    rank = 0
    with safe_open(path, framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
            if ".lora_A" in key or ".lora_down" in key:
                rank = max(rank, int(handle.get_slice(key).get_shape()[0]))
    return rank


def _layers_with(transformer: Any, adapter: str) -> int:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return sum(
        1
        for module in transformer.modules()
        if isinstance(module, BaseTunerLayer) and adapter in getattr(module, "lora_A", {})
    )


def _never() -> bool:
    return False


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    return None


class QwenEngine:
    """Edits with a Qwen-Image-Edit pipeline and per-task LoRA adapters."""

    name = "qwen"

    def __init__(self, settings: GenerationSettings) -> None:
        if settings.qwen_model_dir is None:
            raise SettingsError("RETOUCH_QWEN_MODEL_DIR must name the model directory of the qwen engine")
        missing = [f"{task}={path}" for task, path in settings.qwen_loras.items() if not Path(path).exists()]
        if missing:
            raise SettingsError(f"RETOUCH_QWEN_LORAS names files that do not exist: {', '.join(missing)}")
        if settings.qwen_lightning_lora is not None and not Path(settings.qwen_lightning_lora).is_file():
            raise SettingsError(f"RETOUCH_QWEN_LIGHTNING_LORA={settings.qwen_lightning_lora} does not exist")
        self.settings = settings
        self.device = settings.qwen_device or "auto"
        self.adapters: dict[str, str] = dict(settings.qwen_loras)
        #: Per task, how it is done (filled in by :meth:`load`; before, from the configuration).
        self.states: dict[str, AdapterState] = {
            task: AdapterState(task, "lora", path=self.adapters[task])
            if task in self.adapters
            else AdapterState(task, "base")
            for task in TASKS
        }
        self.profiles: dict[str, str] = {
            task: settings.qwen_profiles.get(task, "seed" if task in self.adapters else "instruct") for task in TASKS
        }
        self.area = settings.qwen_vae_image_area or PIPELINE_AREA
        self.fast_available = settings.qwen_lightning_lora is not None
        self.default_quality = settings.qwen_quality or ("fast" if self.fast_available else "best")
        if self.default_quality == "fast" and not self.fast_available:
            raise SettingsError("RETOUCH_QWEN_QUALITY=fast needs RETOUCH_QWEN_LIGHTNING_LORA (the Lightning LoRA)")
        self.lightning_detail = ""
        self.prefill_engine: Engine | None = None
        self.compiled = False
        self._pipe: Any = None
        self._schedulers: dict[str, Any] = {}
        #: Compiled mode: the state dict of each task's LoRA and what each slot holds now.
        self._swap_dicts: dict[str, dict[str, Any]] = {}
        self._slot_holds: dict[str, str | None] = {}
        self._lora_enabled = True
        # One pipeline, one active adapter set: runs on it take turns.
        self._lock = threading.Lock()

    # -- loading ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the pipeline and every adapter (minutes for the real model; once per process)."""
        with _LOAD_LOCK:
            self._load()

    def _load(self) -> None:
        import diffusers.pipelines.pipeline_utils as pipeline_utils
        import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus as edit_plus
        import torch
        from diffusers import FlowMatchEulerDiscreteScheduler, QwenImageEditPlusPipeline

        device = torch_device(self.settings.qwen_device, gpu_available=torch.cuda.is_available)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        # The pipeline reads its condition sizes from module constants; they are only changed when
        # configured (small models for tests), and one pipeline serves the whole process.
        if self.settings.qwen_vae_image_area is not None:
            edit_plus.VAE_IMAGE_SIZE = self.settings.qwen_vae_image_area
        if self.settings.qwen_condition_image_area is not None:
            edit_plus.CONDITION_IMAGE_SIZE = self.settings.qwen_condition_image_area
        self.area = int(edit_plus.VAE_IMAGE_SIZE)
        # Newer diffusers take ``dtype`` and deprecate ``torch_dtype``; older ones know only the latter.
        dtype_arg = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
        options: dict[str, Any] = {dtype_arg: dtype, "low_cpu_mem_usage": True}
        direct = device in pipeline_utils.SUPPORTED_DEVICE_MAP
        if direct:
            # Each tensor is read straight onto its device (the GPU): no 58 GB staging copy in host
            # memory first. The CPU takes the same path, so the tests run it.
            options["device_map"] = device
        pipeline_class: Any = QwenImageEditPlusPipeline
        pipe = pipeline_class.from_pretrained(str(self.settings.qwen_model_dir), **options)
        if not direct:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if pipe.transformer.config.guidance_embeds:
            # diffusers' Qwen transformer builds no guidance embedding, and its guidance branch calls
            # QwenTimestepProjEmbeddings.forward() with one argument too many. No published
            # Qwen-Image-Edit is guidance-distilled: run it as what its weights are, with true CFG.
            log.warning("the transformer's config says guidance_embeds, which it cannot honour: using true CFG")
            pipe.transformer.register_to_config(guidance_embeds=False)
        self._schedulers = {
            "best": pipe.scheduler,
            "fast": FlowMatchEulerDiscreteScheduler.from_config(LIGHTNING_SCHEDULER),
        }
        self._pipe = pipe
        self.device = device
        if self.settings.qwen_compile:
            self._load_adapters_for_compile(pipe)
            # dynamic: frames follow each crop's aspect ratio and prompts vary in length; one
            # shape-generic graph instead of a recompile for every new sequence length.
            pipe.transformer.compile_repeated_blocks(
                fullgraph=True, dynamic=True, backend=self.settings.qwen_compile_backend
            )
            self.compiled = True
        else:
            self._load_adapters(pipe)
        if self.settings.qwen_strict_loras:
            failed = [state for state in self.states.values() if state.mode == "unavailable"]
            if failed:
                raise RuntimeError("; ".join(f"{s.task} LoRA {s.path}: {s.detail}" for s in failed))
        if any(self.profiles[t] == "seed" and t == "removal" for t in TASKS):
            self.prefill_engine = self._load_prefill()

    def _check_adapter(self, pipe: Any, name: str, path: str) -> tuple[int, str]:
        """``(layers touched, problem)`` of adapter ``name`` just loaded from ``path``."""
        listed = pipe.get_list_adapters().get("transformer", [])
        layers = _layers_with(pipe.transformer, name) if name in listed else 0
        if layers == 0:
            if name in listed:
                pipe.delete_adapters(name)
            sample = ", ".join(sorted(_lora_keys(path))[:3])
            return 0, f"its keys match none of the transformer's layers (e.g. {sample}): not a LoRA for this model"
        named = len(lora_layer_names(path))
        if layers < named:
            return layers, f"touches {layers} of the {named} layers it names"
        return layers, ""

    def _load_one(
        self, pipe: Any, name: str, path: str, *, hotswap: bool = False, source: Any = None
    ) -> tuple[int, str]:
        try:
            with warnings.catch_warnings():
                # peft warns on every adapter after the first; several adapters are the point here.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
                pipe.load_lora_weights(source if source is not None else path, adapter_name=name, hotswap=hotswap)
        except Exception as exc:
            listed = pipe.get_list_adapters().get("transformer", [])
            if name in listed and not hotswap:
                pipe.delete_adapters(name)
            return 0, f"did not load: {type(exc).__name__}: {exc}"
        if hotswap:
            return _layers_with(pipe.transformer, name), ""
        return self._check_adapter(pipe, name, path)

    def _record(self, task: str, path: str, layers: int, problem: str) -> None:
        if layers == 0:
            self.states[task] = AdapterState(task, "unavailable", path=path, detail=problem)
            log.error("the %s LoRA %s is unusable: %s", task, path, problem)
        else:
            self.states[task] = AdapterState(task, "lora", path=path, layers=layers, detail=problem)
            if problem:
                log.warning("the %s LoRA %s %s", task, path, problem)

    def _load_adapters(self, pipe: Any) -> None:
        for task, path in self.adapters.items():
            self._record(task, path, *self._load_one(pipe, task, path))
        lightning = self.settings.qwen_lightning_lora
        if lightning is not None:
            layers, problem = self._load_one(pipe, LIGHTNING, lightning)
            self._lightning_loaded(layers, problem)

    def _lightning_loaded(self, layers: int, problem: str) -> None:
        if layers == 0:
            self.fast_available = False
            self.lightning_detail = f"the Lightning LoRA is unusable: {problem}"
            log.error("%s", self.lightning_detail)
            if self.default_quality == "fast":
                self.default_quality = "best"
        else:
            self.lightning_detail = problem

    def _load_adapters_for_compile(self, pipe: Any) -> None:
        """Hot-swap slots: the LoRA naming the most layers goes in first (the others must name a subset)."""
        import torch
        from safetensors.torch import load_file

        paths = [*self.adapters.values(), *([self.settings.qwen_lightning_lora] if self.fast_available else [])]
        if not paths:
            return
        pipe.enable_lora_hotswap(target_rank=max(lora_rank(str(p)) for p in paths))
        order = sorted(self.adapters, key=lambda t: -len(lora_layer_names(self.adapters[t])))
        for task in order:
            self._swap_dicts[task] = load_file(self.adapters[task])
        if order:
            first = order[0]
            self._record(first, self.adapters[first], *self._load_one(pipe, TASK_SLOT, self.adapters[first]))
            self._slot_holds[TASK_SLOT] = first if self.states[first].mode == "lora" else None
            for task in order[1:]:
                if TASK_SLOT not in pipe.get_list_adapters().get("transformer", []):
                    # The first did not load: the next one takes the slot.
                    self._record(task, self.adapters[task], *self._load_one(pipe, TASK_SLOT, self.adapters[task]))
                    self._slot_holds[TASK_SLOT] = task if self.states[task].mode == "lora" else None
                    continue
                layers, problem = self._load_one(
                    pipe, TASK_SLOT, self.adapters[task], hotswap=True, source=self._swap_dicts[task]
                )
                if layers == 0:
                    self._record(task, self.adapters[task], 0, f"cannot be hot-swapped: {problem}")
                else:
                    self._record(task, self.adapters[task], layers, "")
                    self._slot_holds[TASK_SLOT] = task
        if self.settings.qwen_lightning_lora is not None and self.fast_available:
            path = self.settings.qwen_lightning_lora
            self._swap_dicts[LIGHTNING] = load_file(path)
            self._lightning_loaded(*self._load_one(pipe, LIGHTNING, path))
            self._slot_holds[LIGHTNING] = LIGHTNING if self.fast_available else None
        from peft.utils import get_peft_model_state_dict

        slots = [slot for slot in (TASK_SLOT, LIGHTNING) if slot in pipe.get_list_adapters().get("transformer", [])]
        if slots:
            # Both slots stay active for good (the model's set_adapter keeps the hot-swap-ready
            # scalings, where the pipeline's set_adapters would replace them).
            pipe.transformer.set_adapter(slots)
        for slot in slots:
            weights = get_peft_model_state_dict(pipe.transformer, adapter_name=slot)
            # lora_B zero: the slot changes nothing (a task without a LoRA, or best quality).
            self._swap_dicts[f"{slot}:off"] = {
                f"transformer.{key}": torch.zeros_like(value) if "lora_B" in key else value.detach().clone()
                for key, value in weights.items()
            }

    def _load_prefill(self) -> Engine:
        """The removal engine that pre-fills the hole for the ``seed`` removal profile: the configured
        one, else LaMa where it is available and loads, else classic (no weights, always there)."""
        from retouch.generation.engines import create_engine

        wanted = self.settings.qwen_prefill_engine
        names = [wanted] if wanted else [name for name in ("lama", "classic") if name in ENGINE_NAMES]
        failures = []
        for name in names:
            try:
                engine = create_engine(name, self.settings)
                engine.load()
            except Exception as exc:  # an engine without its weights here: try the next
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            log.info("seed removal pre-fill: the %s engine", name)
            return engine
        raise RuntimeError(f"no removal engine can pre-fill for the seed profile ({'; '.join(failures)})")

    @property
    def pipeline(self) -> Any:
        """The loaded ``QwenImageEditPlusPipeline`` (for benchmarks comparing against it)."""
        if self._pipe is None:
            raise RuntimeError("the qwen engine is not loaded yet")
        return self._pipe

    def task_states(self) -> dict[str, str]:
        """Per task, how this service does it (for health): ``lora (...)``, ``base model``, ``unavailable: why``."""
        report = {task: state.describe() for task, state in self.states.items()}
        if self.prefill_engine is not None:
            report["removal"] += f"; the seed profile's pre-fill: {self.prefill_engine.name}"
        if self.fast_available:
            report["fast"] = (
                f"Lightning LoRA, {self.settings.qwen_lightning_steps} steps (default: {self.default_quality})"
            )
        elif self.lightning_detail:
            report["fast"] = self.lightning_detail
        return report

    # -- a run ----------------------------------------------------------------------------------
    def check(self, job: EditJob) -> None:
        """Refuse what cannot run here, before any model work: an unavailable task, fast quality
        without a Lightning LoRA, conflicting guidance."""
        state = self.states[job.task]
        if state.mode == "unavailable":
            raise ProblemError(503, f"{job.task} is unavailable on this service: its LoRA {state.detail}")
        if self._quality(job) == "fast" and not self.fast_available:
            raise field_error(
                "quality",
                "fast needs the Lightning LoRA, which this service does not have (RETOUCH_QWEN_LIGHTNING_LORA)"
                + (f": {self.lightning_detail}" if self.lightning_detail else ""),
            )
        self._requested_cfg(job)

    def _quality(self, job: EditJob) -> str:
        return job.quality or self.default_quality

    @staticmethod
    def _requested_cfg(job: EditJob) -> float | None:
        """The CFG scale the request asks for, if any. The model is not guidance-distilled, so
        ``guidance_scale`` is the CFG scale (what most clients mean by it)."""
        if (
            job.true_cfg_scale is not None
            and job.guidance_scale is not None
            and job.true_cfg_scale != job.guidance_scale
        ):
            raise field_error(
                "guidance_scale",
                "this model is not guidance-distilled: guidance_scale means the CFG scale here and differs from true_cfg_scale",
            )
        return next((v for v in (job.true_cfg_scale, job.guidance_scale) if v is not None), None)

    def _plan(self, job: EditJob) -> CropPlan:
        box = mask_bbox(job.mask) if job.mask is not None else None
        return plan_crop(job.size, box, self.area, whole=job.input_quality != "original")

    def _prefill(self, picture: Image.Image, mask: Image.Image, job: EditJob, cancelled: CancelCheck) -> Image.Image:
        engine = self.prefill_engine
        if engine is None:
            raise RuntimeError("the seed removal profile has no pre-fill engine (the engine is not loaded)")
        crop_job = EditJob(
            run_id=job.run_id, task="removal", engine=engine.name, image=picture, mask=mask, input_quality="original"
        )
        return engine.edit(crop_job, _quiet, cancelled).image.convert("RGB")

    def condition(self, job: EditJob, plan: CropPlan, cancelled: CancelCheck = _never) -> tuple[str, Profiled]:
        """The profile used for ``job`` and its answer for the ``plan``'s frame."""
        picture = plan.to_frame(job.image)
        mask = plan.to_frame(job.mask, mask=True) if job.mask is not None else None
        profile = self.profiles[job.task]
        if profile == "seed" and job.task == "insertion" and job.reference is None:
            profile = "instruct"  # the seed's insertion needs a reference; from a prompt alone, instruct
        prefill = None
        if profile == "seed" and job.task == "removal" and mask is not None:
            prefill = self._prefill(picture, mask, job, cancelled)
        framed = Framed(
            task=job.task,
            picture=picture,
            mask=mask,
            reference=job.reference,
            reference_mask=job.reference_mask,
            extras=job.extra_conditions,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            prefill=prefill,
            trained_prompt=self.settings.qwen_prompts.get(job.task),
        )
        return profile, PROFILES[profile](framed)

    def _activate(self, pipe: Any, task: str, fast: bool) -> None:
        has_lora = self.states[task].mode == "lora"
        if self.compiled:
            self._swap(pipe, TASK_SLOT, task if has_lora else None)
            self._swap(pipe, LIGHTNING, LIGHTNING if fast else None)
            return
        names = ([task] if has_lora else []) + ([LIGHTNING] if fast else [])
        if not names:
            if self._lora_enabled and pipe.get_list_adapters().get("transformer"):
                pipe.disable_lora()
                self._lora_enabled = False
            return
        if not self._lora_enabled:
            pipe.enable_lora()
            self._lora_enabled = True
        pipe.set_adapters(names, adapter_weights=[1.0] * len(names))

    def _swap(self, pipe: Any, slot: str, content: str | None) -> None:
        if slot not in self._slot_holds or self._slot_holds[slot] == content:
            return
        weights = self._swap_dicts[content if content is not None else f"{slot}:off"]
        pipe.load_lora_weights(weights, adapter_name=slot, hotswap=True)
        self._slot_holds[slot] = content

    def edit(self, job: EditJob, on_progress: StageCallback, cancelled: CancelCheck) -> EditResult:
        """Run the pipeline on the crop with the task's adapter and paste the result back; stops
        between steps when cancelled."""
        import torch

        pipe = self.pipeline
        self.check(job)
        notes: list[str] = []
        fast = self._quality(job) == "fast"
        plan = self._plan(job)
        profile, profiled = self.condition(job, plan, cancelled)
        notes.extend(profiled.notes)
        requested_cfg = self._requested_cfg(job)
        if fast:
            steps = job.steps if job.steps != SCHEMA_STEPS else self.settings.qwen_lightning_steps
            cfg = 1.0
            if requested_cfg is not None and requested_cfg != 1.0:
                notes.append("true_cfg_scale: fast quality runs without CFG (the Lightning LoRA is distilled for it)")
        else:
            steps = job.steps if job.steps != SCHEMA_STEPS or profiled.steps is None else profiled.steps
            cfg = next(
                v
                for v in (requested_cfg, profiled.true_cfg_scale, self.settings.qwen_default_cfg_scale)
                if v is not None
            )
        if steps != job.steps:
            notes.append(
                f"num_inference_steps: {steps} ({'Lightning' if fast else f'the {profile} profile'}'s default)"
            )
        negative = profiled.negative_prompt
        if cfg > 1.0 and negative is None:
            negative = " "  # the pipeline applies true CFG only with a negative prompt; blank is its neutral one
        if cfg <= 1.0:
            negative = None
        seed = job.seed if job.seed is not None else secrets.randbits(63)

        def on_step_end(_pipe: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            on_progress("denoising", step + 1, steps)
            if cancelled():
                raise RunCancelled()
            return tensors

        with self._lock:
            check_cancelled(cancelled)
            self._activate(pipe, job.task, fast)
            pipe.scheduler = self._schedulers["fast" if fast else "best"]
            on_progress("denoising", 0, steps)
            output = pipe(
                image=list(profiled.images),
                prompt=profiled.prompt,
                negative_prompt=negative,
                true_cfg_scale=cfg,
                height=plan.frame[1],
                width=plan.frame[0],
                num_inference_steps=steps,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=on_step_end,
                max_sequence_length=self.settings.qwen_max_sequence_length,
                output_type="pil",
            )
        edited = output.images[0].convert("RGB")
        if job.task == "white-balance" and plan.scale < 1:
            # A colour edit: carry the model's change over to the full-resolution pixels.
            image = paste_back_colour(job.image, edited, plan)
        else:
            image = paste_back(job.image, edited, plan)
        return EditResult(image=image, seed=seed, notes=notes, composite_mask=self._region(job, plan, profiled))

    def _region(self, job: EditJob, plan: CropPlan, profiled: Profiled) -> Image.Image | None:
        """Where the output replaces the input, at the input's size."""
        if profiled.composite_mask is not None:
            full = Image.new("L", job.size, 0)
            full.paste(profiled.composite_mask.resize(plan.box_size, Image.Resampling.NEAREST), plan.box[:2])
            return full
        if job.mask is None or job.task == "white-balance":
            return job.mask
        return edit_region(
            job.mask, around_px=self.settings.composite_grow_px, below_share=self.settings.composite_shadow_share
        )


def create(settings: GenerationSettings) -> QwenEngine:
    """The engine factory :func:`~retouch.generation.engines.create_engine` calls."""
    return QwenEngine(settings)
