"""Fixtures for the deploy tests: the five Modal apps, imported offline as ``modal deploy`` would."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"

#: Deploy-time variables that change what the apps look like; unset for every test.
DEPLOY_VARS = (
    "RETOUCH_GENERATION_GPU",
    "RETOUCH_SEGMENTATION_GPU",
    "RETOUCH_GENERATION_MAX_CONTAINERS",
    "RETOUCH_SEGMENTATION_MAX_CONTAINERS",
    "RETOUCH_IMAGE_UTILS_MAX_CONTAINERS",
    "RETOUCH_GATEWAY_MAX_CONTAINERS",
    "RETOUCH_GENERATION_MIN_CONTAINERS",
    "RETOUCH_SEGMENTATION_MIN_CONTAINERS",
    "RETOUCH_IMAGE_UTILS_MIN_CONTAINERS",
    "RETOUCH_JOBS_WATCHDOG_S",
    "RETOUCH_SEGMENTATION_SCALEDOWN_S",
    "RETOUCH_GENERATION_SCALEDOWN_S",
    "RETOUCH_JOBS_EXPIRY_EVERY_MIN",
    "RETOUCH_PROXY_AUTH",
    "RETOUCH_FASTSAM_MODEL",
    "RETOUCH_QWEN_REPO",
    "RETOUCH_QWEN_REVISION",
    "RETOUCH_QWEN_LORA_SOURCES",
    "RETOUCH_QWEN_LIGHTNING_SOURCE",
    "RETOUCH_QWEN_LIGHTNING_STEPS",
    "RETOUCH_QWEN_QUALITY",
    "RETOUCH_QWEN_COMPILE",
    "RETOUCH_GENERATION_GPU_SNAPSHOT",
    "RETOUCH_QWEN_PROFILES",
    "RETOUCH_QWEN_PROMPTS",
    "RETOUCH_QWEN_STRICT_LORAS",
    "RETOUCH_QWEN_PREFILL_ENGINE",
    "RETOUCH_HF_SECRET",
    "RETOUCH_MODAL_WORKSPACE",
    "GENERATION_SERVICE_URL",
    "SEGMENTATION_SERVICE_URL",
    "IMAGE_UTILS_SERVICE_URL",
    "JOB_MANAGER_SERVICE_URL",
)


@pytest.fixture(autouse=True)
def _clean_deploy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DEPLOY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def describe() -> ModuleType:
    """``deploy/describe.py``: loads the apps and reads their objects."""
    if str(DEPLOY_DIR) not in sys.path:
        sys.path.insert(0, str(DEPLOY_DIR))
    import describe as module

    return module


@pytest.fixture
def load(describe: ModuleType) -> Iterator[Any]:
    """``load(service)``: a freshly imported deploy module, under the current environment (so a
    test can set deploy-time variables first). The modules imported before are restored after."""
    saved = {name: sys.modules.get(name) for name in (f.removesuffix(".py") for f in describe.SERVICE_FILES.values())}

    def _load(service: str) -> ModuleType:
        module: ModuleType = describe.load_service(service, fresh=True)
        return module

    yield _load
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


@pytest.fixture(scope="session")
def apps(describe: ModuleType) -> dict[str, Any]:
    """Service key -> {name: FunctionDescription} of its app, as deployed with default settings."""
    described = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in DEPLOY_VARS:
            patch.delenv(name, raising=False)
        for service in describe.SERVICE_FILES:
            module = describe.load_service(service, fresh=True)
            described[service] = {item.name: item for item in describe.describe_app(module.app)}
    return described
