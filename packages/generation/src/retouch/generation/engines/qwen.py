"""The Qwen-Image-Edit engine: diffusers' ``QwenImageEditPlusPipeline`` with one LoRA per task.

The pipeline is loaded once per process from ``RETOUCH_QWEN_MODEL_DIR`` (bf16 on CUDA, fp32 on CPU)
and every configured adapter (``RETOUCH_QWEN_LORAS``) is loaded with ``adapter_name`` = its task;
each run activates its task's adapter. A task without an adapter is refused before any model work:
it never runs on the bare base model. Progress comes from ``callback_on_step_end``, which also
raises :class:`~retouch.generation.engines.RunCancelled` when the run is cancelled, so the
pipeline stops between two steps. ``seed`` seeds a CPU ``torch.Generator`` (the same seed gives the
same picture on any device); without one a random seed is drawn and reported.

torch and diffusers are imported here and nowhere else.
"""

from __future__ import annotations

import json
import secrets
import threading
import warnings
from pathlib import Path
from typing import Any

from retouch.generation.conditioning import build_conditioning
from retouch.generation.engines import Cancelled, EditResult, ProgressCallback, RunCancelled, check_cancelled
from retouch.generation.letterbox import fit_frame, unletterbox
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import EditJob
from retouch.runtime.problems import field_error
from retouch.runtime.settings import SettingsError

__all__ = ["QwenEngine", "create"]


#: While a model loads, peft and transformers patch process-wide hooks (``register_parameter``
#: for empty-weight initialisation); a second load in another thread would run into them.
_LOAD_LOCK = threading.Lock()


class QwenEngine:
    """Edits with a Qwen-Image-Edit pipeline and per-task LoRA adapters."""

    name = "qwen"

    def __init__(self, settings: GenerationSettings) -> None:
        if settings.qwen_model_dir is None:
            raise SettingsError("RETOUCH_QWEN_MODEL_DIR must name the model directory of the qwen engine")
        missing = [f"{task}={path}" for task, path in settings.qwen_loras.items() if not Path(path).exists()]
        if missing:
            raise SettingsError(f"RETOUCH_QWEN_LORAS names files that do not exist: {', '.join(missing)}")
        self.settings = settings
        self.device = settings.qwen_device or "auto"
        self.adapters: dict[str, str] = dict(settings.qwen_loras)
        self._pipe: Any = None
        self._guidance_distilled = _guidance_distilled(settings.qwen_model_dir)
        # One pipeline, one active adapter: runs on it take turns.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the pipeline and every adapter (minutes for the real model; once per process)."""
        with _LOAD_LOCK:
            self._load()

    def _load(self) -> None:
        import diffusers.pipelines.pipeline_utils as pipeline_utils
        import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus as edit_plus
        import torch
        from diffusers import QwenImageEditPlusPipeline

        device = self.settings.qwen_device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        # The pipeline reads its condition sizes from module constants; they are only changed when
        # configured (small models for tests), and one pipeline serves the whole process.
        if self.settings.qwen_vae_image_area is not None:
            edit_plus.VAE_IMAGE_SIZE = self.settings.qwen_vae_image_area
        if self.settings.qwen_condition_image_area is not None:
            edit_plus.CONDITION_IMAGE_SIZE = self.settings.qwen_condition_image_area
        # Newer diffusers take ``dtype`` and deprecate ``torch_dtype``; older ones know only the latter.
        dtype_arg = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
        pipeline_class: Any = QwenImageEditPlusPipeline
        pipe = pipeline_class.from_pretrained(str(self.settings.qwen_model_dir), **{dtype_arg: dtype})
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        with warnings.catch_warnings():
            # peft warns on every adapter after the first; several adapters are the point here.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
            for task, path in self.adapters.items():
                pipe.load_lora_weights(path, adapter_name=task)
        self._guidance_distilled = bool(pipe.transformer.config.guidance_embeds)
        self.device = device
        self._pipe = pipe

    @property
    def pipeline(self) -> Any:
        """The loaded ``QwenImageEditPlusPipeline`` (for benchmarks comparing against it)."""
        if self._pipe is None:
            raise RuntimeError("the qwen engine is not loaded yet")
        return self._pipe

    def check(self, job: EditJob) -> None:
        """Refuse a task without an adapter, and guidance settings the model cannot honour."""
        if job.task not in self.adapters:
            configured = ", ".join(sorted(self.adapters)) or "none"
            raise field_error(
                "task_type",
                f"no LoRA adapter is configured for {job.task!r} on this service (RETOUCH_QWEN_LORAS; configured: "
                f"{configured}); it is not run on the base model",
            )
        if self._guidance_distilled is not None:
            self._guidance(job)

    def _guidance(self, job: EditJob) -> tuple[float, float | None]:
        """``(true_cfg_scale, guidance)`` for the pipeline. On a model that is not guidance-distilled
        ``guidance_scale`` is the classifier-free guidance scale (what most clients mean by it)."""
        if self._guidance_distilled:
            cfg = job.true_cfg_scale if job.true_cfg_scale is not None else 1.0
            return cfg, job.guidance_scale if job.guidance_scale is not None else self.settings.qwen_default_cfg_scale
        if (
            job.true_cfg_scale is not None
            and job.guidance_scale is not None
            and job.true_cfg_scale != job.guidance_scale
        ):
            raise field_error(
                "guidance_scale",
                "this model is not guidance-distilled: guidance_scale means the CFG scale here and differs from true_cfg_scale",
            )
        scale = next(
            (v for v in (job.true_cfg_scale, job.guidance_scale) if v is not None), self.settings.qwen_default_cfg_scale
        )
        return scale, None

    def _frame(self, job: EditJob) -> tuple[int, int]:
        if job.input_quality == "original":
            return fit_frame(job.size, self.settings.max_original_side)
        return self.settings.working_size, self.settings.working_size

    def edit(self, job: EditJob, on_progress: ProgressCallback, cancelled: Cancelled) -> EditResult:
        """Run the pipeline with the task's adapter; stops between steps when cancelled."""
        import torch

        pipe = self.pipeline
        self.check(job)
        cfg, guidance = self._guidance(job)
        frame = self._frame(job)
        conditioning = build_conditioning(job, frame)
        negative = conditioning.negative_prompt
        if cfg > 1.0 and negative is None:
            negative = " "  # the pipeline applies true CFG only with a negative prompt; blank is its neutral one
        seed = job.seed if job.seed is not None else secrets.randbits(63)
        total = job.steps

        def on_step_end(_pipe: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            on_progress("denoising", step + 1, total)
            if cancelled():
                raise RunCancelled()
            return tensors

        with self._lock:
            check_cancelled(cancelled)
            pipe.set_adapters([job.task], adapter_weights=[1.0])
            on_progress("denoising", 0, total)
            output = pipe(
                image=list(conditioning.images),
                prompt=conditioning.prompt,
                negative_prompt=negative,
                true_cfg_scale=cfg,
                guidance_scale=guidance,
                height=frame[1],
                width=frame[0],
                num_inference_steps=total,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=on_step_end,
                max_sequence_length=self.settings.qwen_max_sequence_length,
                output_type="pil",
            )
        image = unletterbox(output.images[0].convert("RGB"), conditioning.placement)
        return EditResult(image=image, seed=seed)


def _guidance_distilled(model_dir: Path) -> bool | None:
    """Whether the transformer takes a guidance input, from its config (known before loading, so
    requests can be checked before any model work); ``None`` if the config cannot be read."""
    try:
        config = json.loads((model_dir / "transformer" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return bool(config.get("guidance_embeds", False))


def create(settings: GenerationSettings) -> QwenEngine:
    """The engine factory :func:`~retouch.generation.engines.create_engine` calls."""
    return QwenEngine(settings)
