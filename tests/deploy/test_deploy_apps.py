"""The five Modal apps, read from the objects ``modal deploy`` would deploy (offline, default settings)."""

from __future__ import annotations

import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from retouch.gateway.settings import GatewaySettings
from retouch.generation.settings import GenerationSettings
from retouch.image_utils.settings import ImageUtilsSettings
from retouch.jobs.settings import JobsSettings
from retouch.runtime.settings import env_name, load_settings
from retouch.sdk.models.generation import MODAL_GENERATION_APP, MODAL_WORKER_FUNCTION
from retouch.segmentation.settings import SegmentationSettings

EXPECTED = {
    # service: (app name, web endpoint (function or class), label)
    "gateway": ("retouch-gateway", "serve", "api-gateway"),
    "job_manager": ("retouch-jobs", "serve", "job-manager"),
    "generation": (MODAL_GENERATION_APP, "QwenService", "qwen"),
    "segmentation": ("retouch-segmentation", "FastSAMService", "fastsam"),
    "image_utils": ("retouch-image-utils", "serve", "image-utils"),
}
INTERNAL = ("job_manager", "generation", "segmentation", "image_utils")


def web(apps: dict[str, Any], service: str) -> Any:
    return apps[service][EXPECTED[service][1]]


def test_every_deploy_file_imports_with_real_modal_and_no_network(
    load: Any, monkeypatch: pytest.MonkeyPatch, describe: ModuleType
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access while importing a deploy file: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for service in describe.SERVICE_FILES:
        module = load(service)
        assert type(module.app).__module__ == "modal.app"
        assert module.app.name == EXPECTED[service][0]


@pytest.mark.parametrize("service", list(EXPECTED))
def test_each_app_has_its_name_and_one_web_endpoint_with_the_seed_label(apps: dict[str, Any], service: str) -> None:
    app_name, endpoint, label = EXPECTED[service]
    items = apps[service].values()
    assert {item.app for item in items} == {app_name}
    assert [item.name for item in items if item.label] == [endpoint]
    assert web(apps, service).label == label


def test_the_generation_app_and_worker_are_named_as_the_jobs_service_looks_them_up(apps: dict[str, Any]) -> None:
    worker = apps["generation"][MODAL_WORKER_FUNCTION]
    assert worker.app == MODAL_GENERATION_APP
    assert worker.kind == "function"
    assert worker.label is None  # spawned, not a web endpoint
    assert worker.gpu is None  # it only hands the run to the GPU class and waits
    qwen = web(apps, "generation")
    assert qwen.kind == "class" and "run" in qwen.methods
    # The trampoline must be allowed to outlive the run it waits for.
    assert worker.timeout > qwen.timeout


def test_gpus_h100_for_generation_t4_for_segmentation_none_elsewhere(apps: dict[str, Any]) -> None:
    # The bf16 model (about 58 GB) needs an 80 GB class card; H100 is the default.
    assert web(apps, "generation").gpu == "H100"
    assert web(apps, "segmentation").gpu == "T4"
    for service in ("gateway", "job_manager", "image_utils"):
        assert all(item.gpu is None for item in apps[service].values()), service


def test_gateway_and_jobs_stay_on_and_the_others_scale_to_zero(apps: dict[str, Any]) -> None:
    assert web(apps, "gateway").min_containers == 1
    jobs = web(apps, "job_manager")
    # One container: the jobs service keeps its run queue in memory.
    assert (jobs.min_containers, jobs.max_containers) == (1, 1)
    for service in ("generation", "segmentation", "image_utils"):
        item = web(apps, service)
        assert item.scales_to_zero, service
        assert item.max_containers is not None, f"{service} has no cost ceiling"
    for service in EXPECTED:
        window = web(apps, service).scaledown_window
        assert window is not None and 2 <= window <= 600, service


def test_concurrency_where_a_container_serves_many_requests(apps: dict[str, Any]) -> None:
    for service in ("gateway", "job_manager", "segmentation", "image_utils"):
        item = web(apps, service)
        assert item.max_inputs is not None and item.max_inputs > 1, service
    # Generation: one run per container while containers can be added, health still answered.
    qwen = web(apps, "generation")
    assert qwen.target_inputs == 1 and qwen.max_inputs > 1


def test_internal_services_require_proxy_auth_and_the_public_gateway_does_not(apps: dict[str, Any]) -> None:
    assert web(apps, "gateway").requires_proxy_auth is False
    for service in INTERNAL:
        assert web(apps, service).requires_proxy_auth is True, service


def test_secrets_every_service_gets_the_service_token_the_gateway_its_keys_and_the_proxy_token(
    apps: dict[str, Any],
) -> None:
    for service in EXPECTED:
        assert "retouch-service-token" in web(apps, service).secrets, service
    gateway = web(apps, "gateway")
    assert {"retouch-gateway", "retouch-proxy-auth"} <= set(gateway.secrets)
    for service in INTERNAL:
        assert "retouch-proxy-auth" not in web(apps, service).secrets
        assert "retouch-gateway" not in web(apps, service).secrets


def test_volumes_weights_for_the_gpu_services_and_results_for_generation(apps: dict[str, Any]) -> None:
    assert web(apps, "generation").volumes == {"/models": "retouch-models", "/data/jobs-blobs": "retouch-job-blobs"}
    assert web(apps, "segmentation").volumes == {"/models": "retouch-models"}
    for service in ("generation", "segmentation"):
        assert apps[service]["download_weights"].volumes == {"/models": "retouch-models"}
    for service in ("gateway", "job_manager", "image_utils"):
        assert web(apps, service).volumes == {}


def test_gpu_services_use_memory_snapshots(apps: dict[str, Any]) -> None:
    assert web(apps, "generation").memory_snapshot
    assert web(apps, "segmentation").memory_snapshot


def test_jobs_env_selects_the_modal_seams_and_names_the_dict_and_volume(apps: dict[str, Any]) -> None:
    env = web(apps, "job_manager").env
    settings = load_settings(JobsSettings, environ=env)
    assert settings.backend == "modal"
    assert settings.modal_store_dict == "retouch-jobs"
    assert settings.modal_blob_volume == "retouch-job-blobs"
    # Never more runs in flight than generation containers may exist.
    assert settings.max_running == web(apps, "generation").max_containers
    # A GPU cold start must not look like a lost worker.
    assert settings.watchdog_s >= 300
    # The scheduled expiry runs with the same configuration.
    expire = apps["job_manager"]["expire_jobs"]
    assert expire.schedule is not None and expire.schedule.startswith("Period(")
    assert expire.env == env


def test_generation_env_configures_the_qwen_engine_from_the_volume(apps: dict[str, Any]) -> None:
    env = web(apps, "generation").env
    settings = load_settings(GenerationSettings, environ=env)
    assert settings.engine == "qwen"
    assert settings.qwen_model_dir is not None
    assert Path(settings.qwen_model_dir).is_relative_to("/models")
    assert settings.qwen_device == "cuda"


def test_segmentation_env_configures_fastsam_from_the_volume(apps: dict[str, Any]) -> None:
    settings = load_settings(SegmentationSettings, environ=web(apps, "segmentation").env)
    assert settings.engine == "fastsam"
    assert settings.fastsam_weights is not None
    assert Path(settings.fastsam_weights).is_relative_to("/models")
    assert settings.device == "cuda"


def test_gateway_env_marks_the_scale_to_zero_services_idle(apps: dict[str, Any]) -> None:
    settings = load_settings(GatewaySettings, environ=web(apps, "gateway").env)
    assert sorted(settings.scale_to_zero) == ["generation", "image_utils", "segmentation"]
    assert settings.web_dir is not None


def test_weight_download_entry_points_exist_and_are_not_web_endpoints(apps: dict[str, Any]) -> None:
    for service in ("generation", "segmentation"):
        download = apps[service]["download_weights"]
        assert download.kind == "function" and download.label is None


#: Deploy-time settings that may equal the package's default on purpose, with why.
PINNED_ON_PURPOSE = {
    # The Lightning LoRA downloaded at deploy time is the one for this many steps: the service must
    # run the same count even if the package's default changes.
    "RETOUCH_QWEN_LIGHTNING_STEPS",
    # Names of the Modal objects the deploy creates and mounts (the generation app mounts the same
    # blob Volume): wiring that must follow deploy/_common.py, whatever the package defaults to.
    "RETOUCH_JOBS_MODAL_STORE_DICT",
    "RETOUCH_JOBS_MODAL_BLOB_VOLUME",
}
SERVICE_SETTINGS = {
    "gateway": GatewaySettings,
    "job_manager": JobsSettings,
    "generation": GenerationSettings,
    "segmentation": SegmentationSettings,
    "image_utils": ImageUtilsSettings,
}


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_deploy_sets_only_what_differs_from_the_package_defaults(apps: dict[str, Any], service: str) -> None:
    cls = SERVICE_SETTINGS[service]
    env = {name: value for name, value in web(apps, service).env.items() if value is not None}
    deployed = load_settings(cls, environ=env)
    default = load_settings(cls, environ={})
    fields = {env_name(cls, field): field for field in cls.__struct_fields__}
    read = [name for name in env if name in fields]
    assert read, f"{service}: the deploy env sets none of the service's settings"
    repeated = [
        name
        for name in read
        if name not in PINNED_ON_PURPOSE and getattr(deployed, fields[name]) == getattr(default, fields[name])
    ]
    assert not repeated, f"{service}: deploy/ repeats the package's defaults for {repeated}"
