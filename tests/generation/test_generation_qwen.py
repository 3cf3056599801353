"""The qwen engine for real, offline: a tiny Qwen-Image-Edit-Plus pipeline and one LoRA per task,
built by the test and loaded through the engine's production path (``from_pretrained`` +
``load_lora_weights``, adapters switched per run)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generation_helpers import box_mask, decode, png, serve_in_process, smooth_background
from PIL import Image
from starlette.applications import Starlette

from retouch.generation.app import create_app
from retouch.generation.compositing import protected
from retouch.generation.engines import RunCancelled
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


@pytest.fixture(scope="module")
def runner(tiny_qwen_dir: Path) -> Iterator[Runner]:
    """A runner with the qwen engine loaded once for this module."""
    loaded = Runner(_settings(tiny_qwen_dir))
    loaded.load()
    assert loaded.state == "ready", loaded.error
    yield loaded


@pytest.fixture
async def qwen_app(tiny_qwen_dir: Path) -> AsyncIterator[tuple[AsyncClient, Starlette]]:
    app = create_app(_settings(tiny_qwen_dir))
    async with serve_in_process(app) as client:
        yield client, app


def _request(task: str = "removal", **fields: Any) -> RunRequest:
    base: dict[str, Any] = {"prompt": "", "input_image": png(PICTURE), "mask": png(MASK), "num_inference_steps": 2}
    base.update(fields)
    return RunRequest(task_type=task, **base)  # type: ignore[arg-type]


async def test_a_two_step_edit_through_the_service_has_the_input_size(qwen_app: tuple[AsyncClient, Starlette]) -> None:
    client, app = qwen_app
    assert app.state.runner.wait_ready(120)
    health = await client.health()
    assert (health.status, health.engine, health.device) == ("healthy", "qwen", "cpu")
    for picture in (PICTURE, Image.fromarray(smooth_background(80, 48))):
        mask = box_mask(picture.size, (20, 10, 44, 34))
        result = await client.generation.run(_request(input_image=png(picture), mask=png(mask), seed=1))
        edited = decode(result.image)
        assert edited.size == picture.size and (result.width, result.height) == picture.size
        assert result.engine == "qwen" and result.seed == 1
        keep = protected(mask, 6 + 8 + 1)
        assert np.array_equal(np.asarray(edited)[keep], np.asarray(picture)[keep])
        assert not np.array_equal(np.asarray(edited)[~keep], np.asarray(picture)[~keep])


def test_the_engine_loaded_every_adapter_and_runs_with_the_tasks_one(runner: Runner) -> None:
    pipe: Any = runner.engines["qwen"].pipeline  # type: ignore[attr-defined]
    assert sorted(pipe.get_list_adapters()["transformer"]) == ["insertion", "removal", "white-balance"]
    for task in ("white-balance", "removal"):
        fields: dict[str, Any] = {"mask": None} if task == "white-balance" else {}
        runner.run(_request(task, seed=3, **fields))
        assert pipe.get_active_adapters() == [task]


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


async def test_a_task_without_an_adapter_is_refused_before_any_model_work(tiny_qwen_dir: Path) -> None:
    app = create_app(_settings(tiny_qwen_dir, tasks=("removal",)))
    # No lifespan: the model is not even loading, so a refusal cannot have touched it.
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g.test") as raw:
        response = await raw.post(
            "/api/generation/run",
            content=_encode(_request("white-balance", mask=None)),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "no LoRA adapter" in response.json()["detail"] and "white-balance" in response.json()["detail"]
    assert app.state.runner.state == "loading" and app.state.runner.engines["qwen"]._pipe is None


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


async def test_the_sdk_raises_422_for_a_task_without_an_adapter(tiny_qwen_dir: Path) -> None:
    app = create_app(_settings(tiny_qwen_dir, tasks=("removal", "white-balance")))
    async with serve_in_process(app) as client:
        with pytest.raises(UnprocessableEntityError):
            await client.generation.run(_request("insertion", reference_image=png(PICTURE), reference_mask_R=png(MASK)))


def test_guidance_scale_is_the_cfg_scale_and_a_conflict_is_refused(runner: Runner) -> None:
    same = runner.run(_request(seed=7, guidance_scale=2.0))
    explicit = runner.run(_request(seed=7, true_cfg_scale=2.0))
    assert same.image == explicit.image
    with pytest.raises(ProblemError) as caught:
        runner.run(_request(seed=7, guidance_scale=2.0, true_cfg_scale=3.0))
    assert caught.value.status == 422 and "guidance_scale" in caught.value.detail


def _encode(request: RunRequest) -> bytes:
    from retouch.sdk._codec import encode

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
