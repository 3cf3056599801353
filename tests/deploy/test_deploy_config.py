"""Deploy-time settings, the gateway's upstream wiring and the idempotent weight fetch."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def web_item(describe: ModuleType, module: ModuleType) -> Any:
    return next(item for item in describe.describe_app(module.app) if item.label)


@pytest.fixture
def common(describe: ModuleType) -> ModuleType:
    return importlib.import_module("_common")


def test_gpus_are_chosen_at_deploy_time(load: Any, describe: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOUCH_GENERATION_GPU", "H100")
    monkeypatch.setenv("RETOUCH_SEGMENTATION_GPU", "L4")
    assert web_item(describe, load("generation")).gpu == "H100"
    assert web_item(describe, load("segmentation")).gpu == "L4"


def test_generation_container_ceiling_also_bounds_the_jobs_in_flight(
    load: Any, describe: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETOUCH_GENERATION_MAX_CONTAINERS", "5")
    assert web_item(describe, load("generation")).max_containers == 5
    assert web_item(describe, load("job_manager")).env["RETOUCH_JOBS_MAX_RUNNING"] == "5"


def test_a_service_kept_warm_is_no_longer_reported_idle_by_the_gateway(
    load: Any, describe: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETOUCH_SEGMENTATION_MIN_CONTAINERS", "1")
    assert web_item(describe, load("segmentation")).min_containers == 1
    assert web_item(describe, load("image_utils")).min_containers == 0
    env = web_item(describe, load("gateway")).env
    assert env["RETOUCH_SCALE_TO_ZERO"] == "generation,image_utils"


def test_proxy_auth_can_be_turned_off_everywhere_at_once(
    load: Any, describe: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETOUCH_PROXY_AUTH", "0")
    for service in ("job_manager", "generation", "segmentation", "image_utils"):
        assert web_item(describe, load(service)).requires_proxy_auth is False, service
    assert "retouch-proxy-auth" not in web_item(describe, load("gateway")).secrets


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RETOUCH_GENERATION_MAX_CONTAINERS", "many", "is not an integer"),
        ("RETOUCH_GENERATION_MAX_CONTAINERS", "0", "must be at least 1"),
        ("RETOUCH_PROXY_AUTH", "maybe", "is not a yes/no value"),
        ("RETOUCH_SEGMENTATION_SCALEDOWN_S", "1", "must be at least 2"),
    ],
)
def test_bad_deploy_settings_fail_naming_the_variable(
    load: Any, monkeypatch: pytest.MonkeyPatch, common: ModuleType, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(common.DeployConfigError, match=f"{variable}.*{message}"):
        for service in ("generation", "segmentation", "job_manager"):
            load(service)


def test_service_urls_exported_before_deploying_reach_the_gateway(
    load: Any, describe: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENERATION_SERVICE_URL", "https://acme--qwen.modal.run")
    env = web_item(describe, load("gateway")).env
    assert env["GENERATION_SERVICE_URL"] == "https://acme--qwen.modal.run"
    # Unset ones are not passed as empty values that would hide the secret's.
    assert "SEGMENTATION_SERVICE_URL" not in env


def test_the_gateway_derives_unset_service_urls_from_its_own(load: Any) -> None:
    gateway = load("gateway")
    updates = gateway.upstream_environment(
        {"GENERATION_SERVICE_URL": "https://gpu.example.com"}, "https://acme--api-gateway.modal.run"
    )
    assert updates == {
        "SEGMENTATION_SERVICE_URL": "https://acme--fastsam.modal.run",
        "IMAGE_UTILS_SERVICE_URL": "https://acme--image-utils.modal.run",
        "JOB_MANAGER_SERVICE_URL": "https://acme--job-manager.modal.run",
    }
    # In a non-default Modal environment the URLs carry its suffix.
    staged = gateway.upstream_environment({}, "https://acme-staging--api-gateway.modal.run/")
    assert staged["JOB_MANAGER_SERVICE_URL"] == "https://acme-staging--job-manager.modal.run"
    # Behind a custom domain nothing can be derived: the variables must be set.
    assert gateway.upstream_environment({}, "https://api.example.com") == {}
    assert gateway.upstream_environment({}, None) == {}


def test_the_gateway_turns_the_proxy_token_into_upstream_headers(load: Any) -> None:
    gateway = load("gateway")
    environ = {"RETOUCH_PROXY_KEY": "wk-abc", "RETOUCH_PROXY_SECRET": "ws-def"}
    updates = gateway.upstream_environment(environ, None)
    assert updates == {"RETOUCH_UPSTREAM_HEADERS": "Modal-Key=wk-abc,Modal-Secret=ws-def"}
    assert gateway.upstream_environment({"RETOUCH_PROXY_KEY": "wk-abc"}, None) == {}


def test_fetch_once_fetches_once_and_again_when_the_source_changes(common: ModuleType, tmp_path: Path) -> None:
    target = tmp_path / "weights" / "model.pt"
    calls: list[Path] = []

    def fetch(path: Path) -> None:
        calls.append(path)
        path.write_bytes(b"w" * 10)

    assert common.fetch_once(target, "v1", fetch) is True
    assert target.read_bytes() == b"w" * 10
    assert calls[0] != target and calls[0].name == target.name  # staged beside it, then moved
    assert common.fetch_once(target, "v1", fetch) is False
    assert len(calls) == 1
    assert common.fetch_once(target, "v2", fetch) is True
    assert len(calls) == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.pt", "model.pt.source"]


def test_an_interrupted_fetch_leaves_nothing_that_counts_as_done(common: ModuleType, tmp_path: Path) -> None:
    target = tmp_path / "model.pt"

    def broken(path: Path) -> None:
        path.write_bytes(b"partial")
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        common.fetch_once(target, "v1", broken)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="produced nothing"):
        common.fetch_once(target, "v1", lambda path: None)


def test_a_resumable_fetch_works_in_place_and_is_marked_done_only_when_it_returns(
    common: ModuleType, tmp_path: Path
) -> None:
    target = tmp_path / "Qwen-Image-Edit"
    seen: list[Path] = []

    def interrupted(path: Path) -> None:
        path.mkdir(exist_ok=True)
        (path / "part-1").write_text("1")
        raise ConnectionError("reset")

    def resume(path: Path) -> None:
        seen.append(path)
        assert (path / "part-1").exists()  # what the first run got is still there
        (path / "part-2").write_text("2")

    with pytest.raises(ConnectionError):
        common.fetch_once(target, "repo@main", interrupted, resumable=True)
    assert not (tmp_path / "Qwen-Image-Edit.source").exists()
    assert common.fetch_once(target, "repo@main", resume, resumable=True) is True
    assert seen == [target]
    assert common.fetch_once(target, "repo@main", resume, resumable=True) is False


def test_lora_sources_parse_and_bad_ones_are_refused(load: Any) -> None:
    generation = load("generation")
    parsed = generation._parse_loras(
        "removal=acme/loras:removal.safetensors, white-balance=https://x.example/wb.safetensors"
    )
    assert parsed == {"removal": "acme/loras:removal.safetensors", "white-balance": "https://x.example/wb.safetensors"}
    assert generation._parse_loras("") == {}
    for bad in ("removal", "recolour=acme/x:y.safetensors", "insertion=", "removal=volume:x"):
        with pytest.raises(ValueError, match="expected"):
            generation._parse_loras(bad)


def test_the_service_configures_exactly_the_adapters_present(load: Any, tmp_path: Path) -> None:
    generation = load("generation")
    assert generation.lora_setting(tmp_path) == ""
    (tmp_path / "removal.safetensors").write_bytes(b"x")
    (tmp_path / "white-balance.safetensors").write_bytes(b"x")
    (tmp_path / "other.safetensors").write_bytes(b"x")
    assert generation.lora_setting(tmp_path) == (
        f"removal={tmp_path / 'removal.safetensors'},white-balance={tmp_path / 'white-balance.safetensors'}"
    )


def _gateway_takes_upstream_headers() -> bool:
    from retouch.gateway.settings import GatewaySettings

    return "upstream_headers" in GatewaySettings.__struct_fields__


@pytest.mark.skipif(not _gateway_takes_upstream_headers(), reason="the gateway has no upstream_headers setting yet")
def test_the_gateway_accepts_the_proxy_headers_the_deployment_gives_it(load: Any) -> None:
    from retouch.gateway.settings import GatewaySettings
    from retouch.runtime.settings import load_settings

    environ = load("gateway").upstream_environment({"RETOUCH_PROXY_KEY": "wk-1", "RETOUCH_PROXY_SECRET": "ws-2"}, None)
    settings = load_settings(GatewaySettings, environ=environ)
    assert settings.upstream_headers == {"Modal-Key": "wk-1", "Modal-Secret": "ws-2"}  # type: ignore[attr-defined]


def test_the_adapter_tasks_are_the_generation_packages(load: Any) -> None:
    from retouch.generation.settings import TASKS

    # The deploy file cannot import the package at module level (the worker's image lacks it).
    assert load("generation").TASKS == TASKS
