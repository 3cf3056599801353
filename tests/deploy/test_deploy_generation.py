"""deploy/generation.py: provisioning from the sources the LoRAs really live in, the seed's names,
GPU choices that hold the model, and the speed settings chosen at deploy time."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loopback import serve_on_loopback


@pytest.fixture
def generation(load: Any) -> ModuleType:
    module: ModuleType = load("generation")
    return module


def test_the_channel_names_repeated_in_deploy_agree_with_the_sdk(load: Any) -> None:
    from retouch.sdk.models import generation as contract

    load("generation")  # imports deploy/_common.py too (when no earlier test did)
    common = sys.modules["_common"]
    assert common.MODAL_EVENTS_QUEUE == contract.MODAL_EVENTS_QUEUE
    assert common.MODAL_CANCEL_DICT == contract.MODAL_CANCEL_DICT
    assert common.MODAL_WORKER_FUNCTION == contract.MODAL_WORKER_FUNCTION
    assert common.APP_NAMES["generation"] == contract.MODAL_GENERATION_APP


def test_the_seeds_lora_names_are_tasks(generation: ModuleType) -> None:
    assert generation.parse_loras(
        "wb_cp=volume:seed-loras:/wb_cp.safetensors, removal_cp=acme/loras:removal.safetensors"
    ) == {"white-balance": "volume:seed-loras:/wb_cp.safetensors", "removal": "acme/loras:removal.safetensors"}
    # A file named after its task needs no "task=".
    assert generation.parse_loras("volume:seed-loras:/insertion_cp.safetensors,./removal_cp.safetensors") == {
        "insertion": "volume:seed-loras:/insertion_cp.safetensors",
        "removal": "./removal_cp.safetensors",
    }
    for bad in ("volume:seed-loras:/other.safetensors", "recolour=x.safetensors", "removal=volume:only-a-name"):
        with pytest.raises(ValueError, match="expected"):
            generation.parse_loras(bad)


def test_source_kinds(generation: ModuleType) -> None:
    kinds = {
        "acme/loras:removal.safetensors": "hub",
        "https://x.example/wb.safetensors": "url",
        "volume:seed-loras:/loras/wb_cp.safetensors": "volume",
        "/home/me/removal_cp.safetensors": "local",
        "./removal_cp.safetensors": "local",
        "removal_cp.safetensors": "local",
    }
    assert {source: generation.source_kind(source) for source in kinds} == kinds


def test_a_lora_is_fetched_from_another_volume_a_local_path_and_a_url(generation: ModuleType, tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    payload = b"safetensors bytes " * 1000
    asked: list[tuple[str, str]] = []

    def read_volume(name: str, path: str) -> Any:
        asked.append((name, path))
        yield payload[:100]
        yield payload[100:]

    generation.fetch_source("volume:seed-loras:/wb_cp.safetensors", tmp_path / "a", read_volume=read_volume)
    assert (tmp_path / "a").read_bytes() == payload and asked == [("seed-loras", "/wb_cp.safetensors")]

    local = tmp_path / "removal_cp.safetensors"
    local.write_bytes(payload)
    generation.fetch_source(str(local), tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == payload
    with pytest.raises(FileNotFoundError, match="no such file"):
        generation.fetch_source(str(tmp_path / "missing.safetensors"), tmp_path / "c")

    async def file(_request: Any) -> Response:
        return Response(payload, media_type="application/octet-stream")

    with serve_on_loopback(Starlette(routes=[Route("/wb.safetensors", file)])) as base:
        generation.fetch_source(f"{base}/wb.safetensors", tmp_path / "d")
    assert (tmp_path / "d").read_bytes() == payload


def test_the_service_finds_loras_under_the_seeds_names_and_the_lightning_lora(
    generation: ModuleType, tmp_path: Path
) -> None:
    assert generation.lora_setting(tmp_path) == "" and generation.lightning_setting(tmp_path) is None
    (tmp_path / "wb_cp.safetensors").write_bytes(b"x")  # put there with `modal volume put`
    (tmp_path / "removal.safetensors").write_bytes(b"x")
    (tmp_path / "lightning.safetensors").write_bytes(b"x")
    assert generation.lora_setting(tmp_path) == (
        f"removal={tmp_path / 'removal.safetensors'},white-balance={tmp_path / 'wb_cp.safetensors'}"
    )
    assert generation.lightning_setting(tmp_path) == str(tmp_path / "lightning.safetensors")
    report = generation.adapter_report(tmp_path)
    assert report["insertion adapter"].startswith("none: the base model edits")
    assert report["fast mode"] == "Lightning LoRA present"


def test_download_weights_defaults_fetch_the_lightning_lora(
    generation: ModuleType, monkeypatch: pytest.MonkeyPatch, load: Any
) -> None:
    import ast
    import inspect

    assert generation.LIGHTNING_SOURCE.startswith("lightx2v/Qwen-Image-Lightning:Qwen-Image-Edit-2509/")
    assert "8steps" in generation.LIGHTNING_SOURCE
    tree = ast.parse(inspect.getsource(generation))
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "download_weights")
    defaults = dict(
        zip([a.arg for a in function.args.args][-len(function.args.defaults) :], function.args.defaults, strict=True)
    )
    assert ast.unparse(defaults["lightning"]) == "LIGHTNING_SOURCE" and ast.unparse(defaults["loras"]) == "''"
    monkeypatch.setenv("RETOUCH_QWEN_LIGHTNING_STEPS", "4")
    assert "4steps" in load("generation").LIGHTNING_SOURCE


@pytest.mark.parametrize("gpu", ["A100", "A100-40GB", "L40S", "T4", "A10G"])
def test_gpus_that_cannot_hold_the_model_are_refused(load: Any, monkeypatch: pytest.MonkeyPatch, gpu: str) -> None:
    monkeypatch.setenv("RETOUCH_GENERATION_GPU", gpu)
    with pytest.raises(ValueError, match="cannot hold"):
        load("generation")


@pytest.mark.parametrize("gpu", ["A100-80GB", "H100", "H200", "B200"])
def test_gpus_that_hold_the_model_are_taken(load: Any, monkeypatch: pytest.MonkeyPatch, gpu: str) -> None:
    monkeypatch.setenv("RETOUCH_GENERATION_GPU", gpu)
    assert gpu == load("generation").GPU


def test_compile_and_gpu_snapshots_are_opt_in_at_deploy_time(
    load: Any, describe: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retouch.generation.settings import GenerationSettings
    from retouch.runtime.settings import load_settings

    plain = load("generation")
    env = plain.service_environment()
    assert "RETOUCH_QWEN_COMPILE" not in env and "TORCHINDUCTOR_CACHE_DIR" not in env
    settings = load_settings(GenerationSettings, environ=env)
    assert not settings.qwen_compile and settings.qwen_lightning_steps == 8
    monkeypatch.setenv("RETOUCH_QWEN_COMPILE", "1")
    monkeypatch.setenv("RETOUCH_GENERATION_GPU_SNAPSHOT", "1")
    monkeypatch.setenv("RETOUCH_QWEN_QUALITY", "best")
    fast = load("generation")
    env = fast.service_environment()
    settings = load_settings(GenerationSettings, environ=env)
    assert settings.qwen_compile and settings.qwen_quality == "best"
    assert env["TORCHINDUCTOR_CACHE_DIR"] == "/cache/inductor"
    item = next(i for i in describe.describe_app(fast.app) if i.name == "QwenService")
    assert item.volumes["/cache/inductor"] == "retouch-inductor-cache"
    assert fast.GPU_SNAPSHOT and not plain.GPU_SNAPSHOT


def test_provision_uploads_local_loras_to_their_tasks_place_in_the_volume(
    generation: ModuleType, tmp_path: Path
) -> None:
    import contextlib

    put: dict[str, bytes] = {}

    class Batch:
        def put_file(self, local: str, remote: str) -> None:
            put[remote] = Path(local).read_bytes()

    class Volume:
        @contextlib.contextmanager
        def batch_upload(self, force: bool = False) -> Any:
            assert force  # a re-provision replaces the file
            yield Batch()

    wb = tmp_path / "wb_cp.safetensors"
    wb.write_bytes(b"wb weights")
    sources = generation.parse_loras(f"{wb},removal=acme/loras:removal.safetensors")
    uploaded = generation.upload_local_loras(sources, Volume())
    assert uploaded == {"white-balance": "/qwen/loras/white-balance.safetensors"}
    assert put["/qwen/loras/white-balance.safetensors"] == b"wb weights"
    assert put["/qwen/loras/white-balance.safetensors.source"].startswith(b"uploaded wb_cp.safetensors")
    assert len(put) == 2  # the Hub source is left to download_weights
    with pytest.raises(FileNotFoundError, match="no such LoRA file"):
        generation.upload_local_loras({"removal": str(tmp_path / "missing.safetensors")}, Volume())


@pytest.mark.parametrize("gpu_snapshot", [False, True])
def test_the_model_loads_once_with_or_without_gpu_snapshots(
    load: Any, monkeypatch: pytest.MonkeyPatch, gpu_snapshot: bool
) -> None:
    if gpu_snapshot:
        monkeypatch.setenv("RETOUCH_GENERATION_GPU_SNAPSHOT", "1")
    generation = load("generation")
    cls = generation.QwenService._get_user_cls()
    phases: list[str] = []

    class Runner:
        started = False

        def ensure_loading(self) -> None:
            if not self.started:
                self.started = True
                phases.append(f"load in {phase}")

        def wait_ready(self, timeout_s: float | None = None) -> bool:
            return True

    def start(self: Any) -> None:
        phases.append(f"start in {phase}")
        self.runner = Runner()

    monkeypatch.setattr(cls, "_start", start)
    service = cls.__new__(cls)
    phase = "snapshot"
    cls.__dict__["import_libraries"]._get_raw_f()(service)
    phase = "restore"
    cls.__dict__["load"]._get_raw_f()(service)
    if gpu_snapshot:  # the model is in the GPU snapshot: loaded before it, not again after
        assert phases == ["start in snapshot", "load in snapshot"]
    else:
        assert phases == ["start in restore", "load in restore"]


def test_profiles_and_strictness_exported_before_deploying_reach_the_service(
    load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retouch.generation.settings import GenerationSettings
    from retouch.runtime.settings import load_settings

    monkeypatch.setenv("RETOUCH_QWEN_PROFILES", "removal=instruct")
    monkeypatch.setenv("RETOUCH_QWEN_STRICT_LORAS", "1")
    settings = load_settings(GenerationSettings, environ=load("generation").service_environment())
    assert settings.qwen_profiles == {"removal": "instruct"} and settings.qwen_strict_loras
