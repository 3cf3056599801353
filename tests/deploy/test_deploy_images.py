"""The images: built from this repository's packages, exactly those each service imports, and no
torch where no model runs. Read from the image objects' build steps."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"

#: Distribution folder of each ``retouch.<name>`` namespace.
PACKAGE_OF = {
    "sdk": "packages/sdk",
    "runtime": "packages/runtime",
    "gateway": "packages/gateway",
    "image_utils": "packages/image-utils",
    "segmentation": "packages/segmentation",
    "generation": "packages/generation",
    "jobs": "packages/jobs",
}
HEAVY = re.compile(r"\b(torch|torchvision|diffusers|transformers|ultralytics|accelerate|peft)\b")
NO_MODELS = ("gateway", "job_manager", "image_utils")


def retouch_imports(paths: list[Path]) -> set[str]:
    """The ``retouch.<name>`` namespaces imported anywhere in ``paths`` (lazy imports included)."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "retouch" and len(parts) > 1:
                    found.add(parts[1])
    return found


def package_closure(namespace: str) -> set[str]:
    """The packages ``retouch.<namespace>`` needs: itself and what it imports, transitively."""
    needed, todo = set(), [namespace]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        sources = sorted((REPO_ROOT / PACKAGE_OF[current] / "src").rglob("*.py"))
        todo += sorted(retouch_imports(sources) - needed)
    return needed


def build_commands(describe: ModuleType, image: Any) -> list[str]:
    return [command for layer in describe.image_layers(image) if layer.kind == "build" for command in layer.commands]


def web_item(apps: dict[str, Any], service: str) -> Any:
    return next(item for item in apps[service].values() if item.label)


@pytest.mark.parametrize("service", NO_MODELS)
def test_cpu_service_images_install_no_torch(apps: dict[str, Any], describe: ModuleType, service: str) -> None:
    for item in apps[service].values():
        commands = build_commands(describe, item.image)
        assert any("pip install" in command for command in commands)
        offending = [command for command in commands if HEAVY.search(command)]
        assert not offending, f"{item.app}/{item.name} installs model libraries: {offending}"


@pytest.mark.parametrize(("service", "library"), [("generation", "diffusers"), ("segmentation", "ultralytics")])
def test_model_service_images_do_install_their_engine(
    apps: dict[str, Any], describe: ModuleType, service: str, library: str
) -> None:
    commands = " ".join(build_commands(describe, web_item(apps, service).image))
    assert re.search(rf"\b{library}\b", commands)
    assert re.search(r"\btorch\b", commands)


@pytest.mark.parametrize("service", ["gateway", "job_manager", "generation", "segmentation", "image_utils"])
def test_each_image_installs_exactly_the_local_packages_its_service_imports(
    apps: dict[str, Any], describe: ModuleType, service: str
) -> None:
    item = web_item(apps, service)
    namespace = {"job_manager": "jobs"}.get(service, service)
    deploy_file = DEPLOY_DIR / describe.SERVICE_FILES[service]
    needed = package_closure(namespace)
    for extra in retouch_imports([deploy_file]):
        needed |= package_closure(extra)
    expected = sorted(PACKAGE_OF[name] for name in needed)
    assert sorted(describe.image_local_packages(item.image)) == expected
    # ... and installs those copies, nothing else from the repository, without re-resolving them.
    installs = [c for c in build_commands(describe, item.image) if "/opt/retouch/" in c]
    assert len(installs) == 1 and "--no-deps" in installs[0]
    assert sorted(re.findall(r"/opt/retouch/([\w-]+)", installs[0])) == sorted(Path(p).name for p in expected)


def test_the_spawned_worker_image_holds_only_the_sdk(apps: dict[str, Any], describe: ModuleType) -> None:
    worker = apps["generation"]["generation_worker"]
    assert describe.image_local_packages(worker.image) == ["packages/sdk"]
    assert not HEAVY.search(" ".join(build_commands(describe, worker.image)))


def test_images_use_python_3_12_and_carry_the_shared_deploy_modules(apps: dict[str, Any], describe: ModuleType) -> None:
    for service in apps:
        for item in apps[service].values():
            layers = describe.image_layers(item.image)
            assert layers[0].commands[0].startswith("FROM python:3.12"), item.name
            mounted = {remote for layer in layers if layer.kind == "mount" for _, remote in layer.files}
            assert {"/root/_common.py", "/root/images.py"} <= mounted, item.name


@pytest.fixture
def images(describe: ModuleType) -> ModuleType:
    """``deploy/images.py`` (``describe`` put ``deploy/`` on ``sys.path``)."""
    return importlib.import_module("images")


def test_third_party_requirements_come_from_the_packages_pyprojects(images: ModuleType) -> None:
    requirements = images.third_party_requirements(["sdk", "runtime", "generation[qwen]"])
    names = {re.match(r"[A-Za-z0-9_.-]+", r)[0].lower() for r in requirements}  # type: ignore[index]
    assert {"msgspec", "httpx", "starlette", "torch", "diffusers"} <= names
    assert not any(name.startswith("retouch") for name in names)
    without_extra = images.third_party_requirements(["generation"])
    assert not any(HEAVY.search(r) for r in without_extra)


def test_unknown_package_specs_and_extras_are_refused(images: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown local package"):
        images.local_packages(["web"])
    with pytest.raises(ValueError, match="no extra"):
        images.third_party_requirements(["gateway[qwen]"])


def test_inside_a_container_without_the_checkout_the_requirements_are_not_read(
    images: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # In a container the app file is re-imported; the image is already built and the repository absent.
    monkeypatch.setattr(images, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(images.modal, "is_local", lambda: False)
    assert images.third_party_requirements(["sdk", "runtime", "gateway"]) == []
    monkeypatch.setattr(images.modal, "is_local", lambda: True)
    with pytest.raises(FileNotFoundError, match="checkout"):
        images.third_party_requirements(["sdk"])


def test_the_model_images_pin_the_versions_the_test_suite_runs(
    apps: dict[str, Any], describe: ModuleType, images: ModuleType
) -> None:
    from importlib.metadata import version

    from packaging.requirements import Requirement

    # "Tested pins": the versions the tiny pipeline and FastSAM tests run on here.
    assert {name: version(name) for name in images.MODEL_PINS} == images.MODEL_PINS
    for service, libraries in (
        ("generation", ("torch", "torchvision", "diffusers", "transformers", "peft", "accelerate")),
        ("segmentation", ("torch", "ultralytics")),
    ):
        commands = " ".join(build_commands(describe, web_item(apps, service).image))
        for library in libraries:
            assert f"{library}=={images.MODEL_PINS[library]}" in commands, (service, library)
            assert not re.search(rf"\b{library}[>~<]", commands), (service, library)
    # Each pin satisfies the packages' own lower bounds.
    for requirement in images.third_party_requirements(["generation[qwen]", "segmentation[fastsam]"]):
        parsed = Requirement(requirement)
        if parsed.name in images.MODEL_PINS:
            assert parsed.specifier.contains(images.MODEL_PINS[parsed.name]), requirement


def test_pinned_keeps_extras_and_leaves_other_requirements_alone(images: ModuleType) -> None:
    assert images.pinned(["Diffusers[torch]>=0.37", "msgspec>=0.18", "torch>=2.4"]) == [
        "Diffusers[torch]==" + images.MODEL_PINS["diffusers"],
        "msgspec>=0.18",
        "torch==" + images.MODEL_PINS["torch"],
    ]


def test_the_test_environment_installs_exactly_the_model_pins(images: ModuleType) -> None:
    import tomllib

    from packaging.requirements import Requirement

    config = tomllib.loads((Path(__file__).resolve().parents[2] / "hatch.toml").read_text())
    pinned = {}
    for line in config["envs"]["hatch-test"]["extra-dependencies"]:
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        if len(specs) == 1 and specs[0].operator == "==":
            pinned[requirement.name] = specs[0].version
    assert {name: pinned.get(name) for name in images.MODEL_PINS} == images.MODEL_PINS
