"""The qwen engine for real, offline: a tiny Qwen-Image-Edit-Plus pipeline, one LoRA per task in the
seed's DiffSynth key format, a Lightning stand-in, built by the test and loaded through the engine's
production path (``from_pretrained`` + ``load_lora_weights``, adapters checked and switched per run)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generation_helpers import box_mask, decode, png, serve_in_process, smooth_background
from PIL import Image
from starlette.applications import Starlette

from retouch.generation.app import create_app
from retouch.generation.compositing import edit_region, protected
from retouch.generation.engines import RunCancelled
from retouch.generation.engines.qwen import LIGHTNING_SCHEDULER, QwenEngine
from retouch.generation.runner import Runner
from retouch.generation.settings import GenerationSettings
from retouch.runtime.problems import ProblemError
from retouch.runtime.settings import load_settings
from retouch.sdk import AsyncClient
from retouch.sdk.errors import UnprocessableEntityError
from retouch.sdk.models.generation import ProgressEvent, ResultEvent, RunEvent, RunRequest

pytestmark = pytest.mark.slow

PICTURE = Image.fromarray(smooth_background(64, 64))
MASK = box_mask((64, 64), (20, 20, 44, 44))


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model and its LoRAs, built once per test session."""
    from tiny_qwen import build_tiny_qwen

    directory = tmp_path_factory.mktemp("tiny-qwen")
    build_tiny_qwen(directory)
    return directory


def _settings(directory: Path, tasks: tuple[str, ...] | None = None, **overrides: Any) -> GenerationSettings:
    from tiny_qwen import TASKS, tiny_qwen_env

    env = tiny_qwen_env(directory, tasks if tasks is not None else TASKS)
    return load_settings(GenerationSettings, env, log_json=False, **overrides)


def _loaded(settings: GenerationSettings) -> Runner:
    runner = Runner(settings)
    runner.load()
    assert runner.state == "ready", runner.error
    return runner


@pytest.fixture(scope="module")
def runner(tiny_qwen_dir: Path) -> Iterator[Runner]:
    """A runner with the qwen engine loaded once for this module (seed profiles, fast default)."""
    yield _loaded(_settings(tiny_qwen_dir))


def _engine(runner: Runner) -> QwenEngine:
    engine = runner.engines["qwen"]
    assert isinstance(engine, QwenEngine)
    return engine


@pytest.fixture
async def qwen_app(tiny_qwen_dir: Path) -> AsyncIterator[tuple[AsyncClient, Starlette]]:
    app = create_app(_settings(tiny_qwen_dir))
    async with serve_in_process(app) as client:
        yield client, app


def _request(task: str = "removal", **fields: Any) -> RunRequest:
    base: dict[str, Any] = {"prompt": "", "input_image": png(PICTURE), "mask": png(MASK), "num_inference_steps": 2}
    base.update(fields)
    return RunRequest(task_type=task, **base)  # type: ignore[arg-type]


def _count_passes(engine: QwenEngine) -> list[int]:
    """A counter of transformer forward passes (one list entry per pass)."""
    calls: list[int] = []
    engine.pipeline.transformer.register_forward_hook(lambda *_: calls.append(1))
    return calls


def _kept(mask: Image.Image, settings: GenerationSettings) -> np.ndarray:
    """Pixels the qwen engine's result must keep bit for bit: beyond its edit region and feather."""
    region = edit_region(mask, around_px=settings.composite_grow_px, below_share=settings.composite_shadow_share)
    return protected(region, settings.composite_grow_px + 1)


async def test_an_edit_through_the_service_has_the_input_size_and_keeps_the_far_pixels(
    qwen_app: tuple[AsyncClient, Starlette],
) -> None:
    client, app = qwen_app
    assert app.state.runner.wait_ready(120)
    health = await client.health()
    assert (health.status, health.engine, health.device) == ("healthy", "qwen", "cpu")
    settings = app.state.runner.settings
    for picture, quality in ((PICTURE, "resized"), (Image.fromarray(smooth_background(160, 96)), "original")):
        mask = box_mask(picture.size, (20, 10, 44, 34))
        result = await client.generation.run(
            _request(input_image=png(picture), mask=png(mask), seed=1, input_quality=quality)
        )
        edited = decode(result.image)
        assert edited.size == picture.size and (result.width, result.height) == picture.size
        assert result.engine == "qwen" and result.seed == 1
        grown = box_mask(picture.size, (14, 4, 50, 40))  # the brush grows the mask by 6 px
        keep = _kept(grown, settings)
        assert np.array_equal(np.asarray(edited)[keep], np.asarray(picture)[keep])
        assert not np.array_equal(np.asarray(edited)[~keep], np.asarray(picture)[~keep])


async def test_health_says_how_each_task_is_done(qwen_app: tuple[AsyncClient, Starlette]) -> None:
    from tiny_qwen import TINY_LORA_LAYERS

    client, app = qwen_app
    assert app.state.runner.wait_ready(120)
    tasks = (await client.health()).tasks
    assert tasks is not None
    for task in ("insertion", "white-balance"):
        assert tasks[task] == f"lora ({TINY_LORA_LAYERS} layers)"
    # LaMa is not installed here: the seed removal's pre-fill falls back to classic.
    assert tasks["removal"] == f"lora ({TINY_LORA_LAYERS} layers); the seed profile's pre-fill: classic"
    assert tasks["fast"].startswith("Lightning LoRA, 8 steps (default: fast)")


def test_the_seeds_diffsynth_format_loras_load_and_touch_the_transformer(runner: Runner) -> None:
    from tiny_qwen import TINY_LORA_LAYERS

    engine = _engine(runner)
    # Loaded with a device map: every weight read straight onto its device (the GPU in production).
    assert engine.pipeline.hf_device_map == "cpu"
    keys = json.dumps(sorted(_lora_keys(engine.adapters["removal"]))[:2])
    assert ".lora_A.default.weight" in keys and "transformer." not in keys  # really the DiffSynth layout
    assert sorted(engine.pipeline.get_list_adapters()["transformer"]) == [
        "insertion",
        "lightning",
        "removal",
        "white-balance",
    ]
    assert {task: state.layers for task, state in engine.states.items()} == dict.fromkeys(
        ("removal", "insertion", "white-balance"), TINY_LORA_LAYERS
    )


def _lora_keys(path: str) -> list[str]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as handle:
        return list(handle.keys())


def test_adapters_switch_per_request(runner: Runner) -> None:
    pipe = _engine(runner).pipeline
    for task, quality, active in (
        ("white-balance", "fast", ["white-balance", "lightning"]),
        ("removal", "best", ["removal"]),
        ("insertion", "fast", ["insertion", "lightning"]),
    ):
        fields: dict[str, Any] = {"mask": None} if task == "white-balance" else {}
        if task == "insertion":
            fields = {"reference_image": png(PICTURE), "reference_mask_R": png(MASK)}
        runner.run(_request(task, seed=3, quality=quality, **fields))
        assert sorted(pipe.get_active_adapters()) == sorted(active)


def test_a_lora_whose_keys_match_nothing_is_refused_clearly(tiny_qwen_dir: Path) -> None:
    from tiny_qwen import tiny_qwen_env

    env = tiny_qwen_env(tiny_qwen_dir)
    unrelated = str(tiny_qwen_dir / "loras" / "unrelated.safetensors")
    env["RETOUCH_QWEN_LORAS"] = (
        f"removal={unrelated},white-balance={tiny_qwen_dir / 'loras' / 'white-balance.safetensors'}"
    )
    runner = _loaded(load_settings(GenerationSettings, env, log_json=False))
    tasks = runner.health().tasks
    assert tasks is not None
    assert tasks["removal"].startswith("unavailable: its keys match none of the transformer's layers")
    assert "single_blocks.0.linear1" in tasks["removal"]
    assert tasks["white-balance"].startswith("lora (") and tasks["insertion"] == "base model (no LoRA configured)"
    assert "removal" not in _engine(runner).pipeline.get_list_adapters()["transformer"]
    with pytest.raises(ProblemError) as caught:
        runner.prepare(_request("removal"))
    assert caught.value.status == 503 and "removal" in caught.value.detail and "match none" in caught.value.detail
    # Other tasks still run.
    assert decode(runner.run(_request("white-balance", mask=None, seed=1)).image).size == (64, 64)

    strict = Runner(load_settings(GenerationSettings, env, log_json=False, qwen_strict_loras=True))
    strict.load()
    assert strict.state == "failed" and "removal LoRA" in (strict.error or "") and "match none" in (strict.error or "")


def test_a_task_without_a_lora_is_edited_by_the_base_model(tiny_qwen_dir: Path) -> None:
    runner = _loaded(_settings(tiny_qwen_dir, tasks=("removal",)))
    engine = _engine(runner)
    assert engine.profiles == {"removal": "seed", "insertion": "instruct", "white-balance": "instruct"}
    pipe = engine.pipeline
    result = runner.run(_request("white-balance", mask=None, seed=1, quality="best"))
    assert decode(result.image).size == (64, 64)
    assert _lora_disabled(pipe)  # no adapter at all: the base model
    runner.run(_request("removal", seed=1, quality="best"))
    assert pipe.get_active_adapters() == ["removal"] and not _lora_disabled(pipe)
    inserted = runner.run(_request("insertion", prompt="a red ball", seed=1))
    assert decode(inserted.image).size == (64, 64)


def _lora_disabled(pipe: Any) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in pipe.transformer.modules() if isinstance(m, BaseTunerLayer)]
    return bool(layers) and all(layer.disable_adapters for layer in layers)


def test_fast_quality_uses_lightning_steps_its_scheduler_and_no_cfg(runner: Runner) -> None:
    engine = _engine(runner)
    passes = _count_passes(engine)
    events: list[RunEvent] = []
    result = runner.run(
        _request("white-balance", mask=None, seed=1, quality="fast", num_inference_steps=28), events.append
    )
    assert len(passes) == 8  # 8 Lightning steps x 1 pass (no CFG) instead of the schema's 28 x 2
    config = engine.pipeline.scheduler.config
    assert (config.base_shift, config.max_shift, config.use_dynamic_shifting) == (
        LIGHTNING_SCHEDULER["base_shift"],
        LIGHTNING_SCHEDULER["max_shift"],
        True,
    )
    assert any("num_inference_steps: 8" in note for note in result.notes)
    steps = [e.total_steps for e in events if isinstance(e, ProgressEvent) and e.stage == "denoising"]
    assert set(steps) == {8}
    passes.clear()
    # best with the seed profile: 10 steps, white balance with true CFG 3.3 (two passes a step)
    runner.run(_request("white-balance", mask=None, seed=1, quality="best", num_inference_steps=28))
    assert len(passes) == 20
    assert engine.pipeline.scheduler.config.base_shift != LIGHTNING_SCHEDULER["base_shift"]
    passes.clear()
    runner.run(_request("removal", seed=1, quality="best", num_inference_steps=28))
    assert len(passes) == 10  # seed removal: 10 steps, no CFG
    passes.clear()
    runner.run(_request("removal", seed=1, quality="best", num_inference_steps=3))
    assert len(passes) == 3  # steps the request chose are kept


def test_fast_and_best_differ_and_each_is_reproducible(runner: Runner) -> None:
    fast = runner.run(_request(seed=9, quality="fast"))
    best = runner.run(_request(seed=9, quality="best"))
    assert fast.image != best.image
    assert runner.run(_request(seed=9, quality="fast")).image == fast.image


def test_fast_without_a_lightning_lora_is_refused(tiny_qwen_dir: Path) -> None:
    runner = Runner(_settings(tiny_qwen_dir, qwen_lightning_lora=None))
    with pytest.raises(ProblemError) as caught:
        runner.prepare(_request(quality="fast"))
    assert caught.value.status == 422 and "Lightning" in caught.value.detail
    assert _engine(runner).default_quality == "best"


def test_a_guidance_distilled_config_no_longer_crashes_the_transformer(tmp_path: Path, tiny_qwen_dir: Path) -> None:
    shutil.copytree(tiny_qwen_dir, tmp_path / "tiny", dirs_exist_ok=True)
    config_path = tmp_path / "tiny" / "model" / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["guidance_embeds"] = True
    config_path.write_text(json.dumps(config))
    runner = _loaded(_settings(tmp_path / "tiny"))
    # diffusers' guidance branch calls QwenTimestepProjEmbeddings.forward() with one argument too many.
    result = runner.run(_request(seed=1, guidance_scale=2.0, quality="best"))
    assert decode(result.image).size == (64, 64)
    assert runner.run(_request(seed=1, true_cfg_scale=2.0, quality="best")).image == result.image


def test_compiled_hot_swapped_adapters_give_the_uncompiled_pixels(tiny_qwen_dir: Path, runner: Runner) -> None:
    compiled = _loaded(_settings(tiny_qwen_dir, qwen_compile=True, qwen_compile_backend="eager"))
    engine = _engine(compiled)
    assert engine.compiled
    assert sorted(engine.pipeline.get_list_adapters()["transformer"]) == ["lightning", "task"]
    for task, quality in (
        ("removal", "fast"),
        ("white-balance", "best"),
        ("removal", "best"),
        ("white-balance", "fast"),
    ):
        fields: dict[str, Any] = {"mask": None} if task == "white-balance" else {}
        request = _request(task, seed=4, quality=quality, **fields)
        assert compiled.run(request).image == runner.run(request).image, (task, quality)
    # Switching task and quality again swaps weights only: the compiled blocks are not recompiled.
    from torch._dynamo.utils import counters

    compiles = sum(counters["stats"].values()) if "stats" in counters else 0
    frames = dict(counters["frames"])
    for task, quality in (("white-balance", "best"), ("removal", "fast"), ("removal", "best")):
        fields = {"mask": None} if task == "white-balance" else {}
        compiled.run(_request(task, seed=4, quality=quality, **fields))
    # ... nor for a frame of another aspect ratio (the blocks are compiled with dynamic shapes).
    wide = Image.fromarray(smooth_background(160, 64))
    compiled.run(_request(input_image=png(wide), mask=png(box_mask((160, 64), (20, 10, 40, 30))), seed=4))
    assert dict(counters["frames"]) == frames
    assert (sum(counters["stats"].values()) if "stats" in counters else 0) == compiles


def test_progress_events_count_the_denoising_steps(runner: Runner) -> None:
    events: list[RunEvent] = []
    result = runner.run(_request(num_inference_steps=3, seed=2), events.append)
    steps = [event for event in events if isinstance(event, ProgressEvent) and event.stage == "denoising"]
    assert [(event.current_step, event.total_steps) for event in steps] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert isinstance(result, ResultEvent) and result.timings["engine_s"] > 0


def test_the_same_seed_gives_identical_pixels_and_another_seed_does_not(runner: Runner) -> None:
    first = np.asarray(decode(runner.run(_request(seed=42)).image))
    second = np.asarray(decode(runner.run(_request(seed=42)).image))
    other = np.asarray(decode(runner.run(_request(seed=43)).image))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_without_a_seed_one_is_drawn_and_reported(runner: Runner) -> None:
    result = runner.run(_request())
    assert result.seed is not None
    again = runner.run(_request(seed=result.seed))
    assert again.image == result.image


def test_a_cancel_after_the_first_step_stops_the_run(runner: Runner) -> None:
    events: list[RunEvent] = []

    def cancelled() -> bool:
        return any(isinstance(e, ProgressEvent) and e.current_step == 1 for e in events)

    with pytest.raises(RunCancelled):
        runner.run(_request(num_inference_steps=20), events.append, cancelled)
    steps = [e.current_step for e in events if isinstance(e, ProgressEvent) and e.stage == "denoising"]
    assert steps == [0, 1]
    # the pipeline is usable again afterwards
    assert decode(runner.run(_request(seed=5)).image).size == (64, 64)


def test_insertion_and_white_balance_run_with_their_own_conditioning(runner: Runner) -> None:
    reference = Image.new("RGB", (32, 32), (200, 30, 30))
    reference_mask = box_mask((32, 32), (8, 8, 24, 24))
    inserted = runner.run(
        _request("insertion", reference_image=png(reference), reference_mask_R=png(reference_mask), seed=1)
    )
    from_prompt = runner.run(_request("insertion", prompt="a red ball", seed=1))
    balanced = runner.run(_request("white-balance", mask=None, seed=1, input_quality="original"))
    for result in (inserted, from_prompt, balanced):
        assert decode(result.image).size == (64, 64)


def test_the_engine_shows_the_model_the_seed_layouts(runner: Runner) -> None:
    engine = _engine(runner)
    job = runner.prepare(_request(seed=1, mask_tool_type="box"))
    plan = engine._plan(job)
    profile, profiled = engine.condition(job, plan)
    assert profile == "seed" and profiled.prompt == "remove object" and len(profiled.images) == 3
    holed, mask, prefill = (np.asarray(image) for image in profiled.images)
    inside = np.asarray(plan.to_frame(job.mask, mask=True)) > 127  # type: ignore[arg-type]
    assert (holed[inside] == 0).all() and (mask[inside] == 255).all() and (prefill[inside] != 0).any()
    assert np.array_equal(holed[~inside], np.asarray(plan.to_frame(job.image))[~inside])


def test_the_configured_trained_prompt_reaches_the_model(tiny_qwen_dir: Path) -> None:
    runner = Runner(_settings(tiny_qwen_dir, qwen_prompts={"removal": "erase the thing"}))
    engine = _engine(runner)
    job = runner.prepare(_request(seed=1))
    engine.prefill_engine = engine._load_prefill()
    assert engine.condition(job, engine._plan(job))[1].prompt == "erase the thing"


def test_a_seed_insertion_is_composited_over_its_widened_mask(runner: Runner) -> None:
    reference = Image.new("RGB", (32, 32), (200, 30, 30))
    reference_mask = box_mask((32, 32), (8, 8, 24, 24))
    job = runner.prepare(
        _request(
            "insertion", reference_image=png(reference), reference_mask_R=png(reference_mask), mask_tool_type="box"
        )
    )
    result = _engine(runner).edit(job, lambda *a, **k: None, lambda: False)
    assert result.composite_mask is not None
    region = np.asarray(result.composite_mask) > 127
    target = np.asarray(MASK) > 127
    assert region[target].all() and region.sum() > target.sum()
    below = np.flatnonzero(region.any(axis=1))[-1]
    assert below > 44  # widened downwards for the shadow


async def test_conflicting_guidance_is_refused_before_any_model_work(tiny_qwen_dir: Path) -> None:
    import httpx

    app = create_app(_settings(tiny_qwen_dir))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g.test") as raw:
        response = await raw.post(
            "/api/generation/run",
            content=_encode(_request(guidance_scale=2.0, true_cfg_scale=5.0)),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422 and "guidance_scale" in response.json()["detail"]
    assert app.state.runner.engines["qwen"]._pipe is None


async def test_the_sdk_raises_422_for_fast_quality_where_there_is_no_lightning(tiny_qwen_dir: Path) -> None:
    app = create_app(_settings(tiny_qwen_dir, qwen_lightning_lora=None))
    async with serve_in_process(app) as client:
        with pytest.raises(UnprocessableEntityError):
            await client.generation.run(_request("removal", quality="fast"))


def test_guidance_scale_is_the_cfg_scale_and_a_conflict_is_refused(runner: Runner) -> None:
    same = runner.run(_request(seed=7, guidance_scale=2.0, quality="best"))
    explicit = runner.run(_request(seed=7, true_cfg_scale=2.0, quality="best"))
    assert same.image == explicit.image
    with pytest.raises(ProblemError) as caught:
        runner.run(_request(seed=7, guidance_scale=2.0, true_cfg_scale=3.0))
    assert caught.value.status == 422 and "guidance_scale" in caught.value.detail


def _encode(request: RunRequest) -> bytes:
    from retouch.sdk.codec import encode

    return encode(request)


def test_the_qwen_extra_declares_everything_the_pipeline_loads() -> None:
    import tomllib

    from packaging.requirements import Requirement

    pyproject = Path(__file__).resolve().parents[2] / "packages/generation/pyproject.toml"
    extra = {
        (r := Requirement(line)).name: r.specifier
        for line in tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["qwen"]
    }
    # torchvision is declared, not borrowed from ultralytics: Qwen2VLVideoProcessor needs it.
    assert {"torch", "torchvision", "diffusers", "transformers", "peft", "accelerate"} <= set(extra)
    # The Plus pipeline ships in 0.36; 2511's zero_cond_t and DiffSynth LoRA keys need 0.37.
    assert not extra["diffusers"].contains("0.36.0") and extra["diffusers"].contains("0.37.0")


def test_the_pipeline_class_and_its_processors_import_without_ultralytics() -> None:
    import subprocess
    import sys

    # A fresh interpreter in which ultralytics cannot be imported: what the pipeline needs must come
    # from the extra itself.
    code = (
        "import sys; sys.modules['ultralytics'] = None\n"
        "from diffusers import QwenImageEditPlusPipeline\n"
        "from transformers import Qwen2VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor\n"
        "Qwen2VLVideoProcessor(); Qwen2VLImageProcessor()\n"
        "import torchvision; print('ok', QwenImageEditPlusPipeline.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok QwenImageEditPlusPipeline"


def test_white_balance_of_a_picture_larger_than_the_frame_keeps_its_detail(runner: Runner) -> None:
    rng = np.random.default_rng(5)
    detail = rng.integers(40, 200, (96, 160, 3)).astype(np.uint8)
    picture = Image.fromarray(detail)
    result = decode(runner.run(_request("white-balance", mask=None, seed=1, input_image=png(picture))).image)
    assert result.size == picture.size

    def roughness(pixels: np.ndarray) -> float:
        grey = pixels.astype(np.float32).mean(axis=2)
        return float(np.abs(np.diff(grey, axis=1)).mean())

    # The model's frame is 64x64-ish: an upscaled output would have lost the pixel-level texture.
    assert roughness(np.asarray(result)) > 0.5 * roughness(detail)


def test_the_cli_sends_the_quality_it_is_given() -> None:
    import argparse

    from retouch.sdk.cli._edit import add_edit_arguments, edit_options

    parser = argparse.ArgumentParser()
    add_edit_arguments(parser)
    base = ["photo.png", "--task", "removal"]
    assert edit_options(parser.parse_args([*base, "--quality", "fast"]))["quality"] == "fast"
    assert "quality" not in edit_options(parser.parse_args(base))  # the deployment's default
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--quality", "fastest"])


def test_the_seed_removal_prefill_comes_from_lama_when_it_is_installed(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tiny_models import save_tiny_lama

    lama = save_tiny_lama(tmp_path / "big-lama.pt")
    runner = _loaded(_settings(tiny_qwen_dir, lama_model=lama))
    engine = _engine(runner)
    assert engine.prefill_engine is not None and engine.prefill_engine.name == "lama"
    job = runner.prepare(_request(seed=1))
    _profile, profiled = engine.condition(job, engine._plan(job))
    lama_fill = engine.prefill_engine.edit(
        dataclasses.replace(
            job, image=engine._plan(job).to_frame(job.image), mask=engine._plan(job).to_frame(job.mask, mask=True)
        ),  # type: ignore[arg-type]
        lambda *a, **k: None,
        lambda: False,
    ).image
    assert profiled.images[2].tobytes() == lama_fill.convert("RGB").tobytes()  # picture 3 is LaMa's fill
    assert decode(runner.run(_request(seed=1, quality="best")).image).size == (64, 64)
    classic = _loaded(_settings(tiny_qwen_dir, lama_model=lama, qwen_prefill_engine="classic"))
    assert _engine(classic).prefill_engine.name == "classic"  # type: ignore[union-attr]
