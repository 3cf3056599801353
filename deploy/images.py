"""Container images for the Modal apps, built from this repository's packages.

Each service's image installs exactly the local packages that service imports, with only the
extras it needs: the gateway, jobs and image-utils images carry no torch. Third-party
dependencies come from the packages' own ``pyproject.toml`` (one cached layer, rebuilt only when
they change); the local packages are then copied in and installed ``--no-deps`` on top, so a code
change rebuilds a thin layer, not torch.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import modal
from _common import DEPLOY_DIR, REPO_ROOT

__all__ = [
    "MODEL_PINS",
    "PACKAGES",
    "PYTHON_VERSION",
    "LocalPackage",
    "gateway_image",
    "generation_image",
    "image_utils_image",
    "jobs_image",
    "local_packages",
    "pinned",
    "segmentation_image",
    "service_image",
    "third_party_requirements",
    "trampoline_image",
]

PYTHON_VERSION = "3.12"
#: Where the local packages are copied inside an image before ``pip install``.
PACKAGES_ROOT = "/opt/retouch"
#: The deploy helpers every container imports alongside its app file.
SHARED_MODULES = ("_common.py", "images.py")
#: Build outputs and caches never copied into an image.
IGNORE = ["**/__pycache__", "**/*.pyc", "**/.venv", "**/dist", "**/build", "**/*.egg-info", "**/.pytest_cache"]


@dataclass(frozen=True)
class LocalPackage:
    """One distribution of this repository: its name and where it lives."""

    dist: str
    path: str

    @property
    def pyproject(self) -> Path:
        return REPO_ROOT / self.path / "pyproject.toml"

    @property
    def remote_path(self) -> str:
        return f"{PACKAGES_ROOT}/{Path(self.path).name}"


#: The packages an image may install, by the short name the builders use.
PACKAGES: dict[str, LocalPackage] = {
    "sdk": LocalPackage("retouch-sdk", "packages/sdk"),
    "runtime": LocalPackage("retouch-runtime", "packages/runtime"),
    "gateway": LocalPackage("retouch-gateway", "packages/gateway"),
    "image-utils": LocalPackage("retouch-image-utils", "packages/image-utils"),
    "segmentation": LocalPackage("retouch-segmentation", "packages/segmentation"),
    "generation": LocalPackage("retouch-generation", "packages/generation"),
    "jobs": LocalPackage("retouch-jobs", "packages/jobs"),
}

#: The model libraries' exact versions in the GPU images: the versions the test suite runs the tiny
#: Qwen pipeline and FastSAM with (tests/deploy checks they equal the test environment's). A rebuild
#: of an image installs these again, never a new major; bump them together with the test environment.
MODEL_PINS: dict[str, str] = {
    "torch": "2.14.1",
    "torchvision": "0.29.1",
    "diffusers": "0.42.1",
    "transformers": "5.24.0",
    "peft": "0.21.2",
    "accelerate": "1.15.0",
    "ultralytics": "8.4.190",
    "huggingface-hub": "2.4.0",
    "safetensors": "0.8.0",
}

_SPEC = re.compile(r"^(?P<name>[a-z-]+)(?:\[(?P<extras>[a-z0-9_,-]+)\])?$")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def local_packages(specs: Iterable[str]) -> list[tuple[LocalPackage, tuple[str, ...]]]:
    """Parse ``"segmentation[fastsam]"``-style specs into packages and their extras."""
    parsed = []
    for spec in specs:
        match = _SPEC.match(spec)
        if not match or match["name"] not in PACKAGES:
            raise ValueError(f"unknown local package spec {spec!r}; known: {', '.join(PACKAGES)}")
        extras = tuple(e for e in (match["extras"] or "").split(",") if e)
        parsed.append((PACKAGES[match["name"]], extras))
    return parsed


def third_party_requirements(specs: Iterable[str]) -> list[str]:
    """The requirements of the local packages named by ``specs`` (with their extras), minus the local
    packages themselves: what pip must fetch from PyPI. Empty inside a container, where the
    repository is absent and the image is already built."""
    local = {_canonical(p.dist) for p in PACKAGES.values()}
    requirements: set[str] = set()
    for package, extras in local_packages(specs):
        if not package.pyproject.is_file():
            if modal.is_local():
                raise FileNotFoundError(f"{package.pyproject} is missing: run modal from a checkout of the repository")
            return []
        project = tomllib.loads(package.pyproject.read_text(encoding="utf-8"))["project"]
        optional = project.get("optional-dependencies", {})
        wanted = list(project.get("dependencies", []))
        for extra in extras:
            if extra not in optional:
                raise ValueError(f"{package.dist} has no extra {extra!r}")
            wanted += optional[extra]
        for requirement in wanted:
            match = _REQ_NAME.match(requirement)
            if match and _canonical(match[1]) not in local:
                requirements.add(requirement.strip())
    return sorted(requirements, key=str.lower)


def pinned(requirements: Iterable[str]) -> list[str]:
    """``requirements`` with every model library replaced by its :data:`MODEL_PINS` version (extras
    kept), the rest as they are."""
    out = []
    for requirement in requirements:
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?", requirement)
        version = MODEL_PINS.get(_canonical(match[1])) if match else None
        out.append(f"{match[1]}{match[2] or ''}=={version}" if match and version else requirement)
    return sorted(set(out), key=str.lower)


def service_image(
    specs: Iterable[str],
    *,
    apt: Iterable[str] = (),
    pip: Iterable[str] = (),
    env: dict[str, str] | None = None,
) -> modal.Image:
    """Debian slim with Python 3.12, ``apt`` packages, the third-party requirements of ``specs`` (plus
    ``pip``), then the local packages of ``specs`` installed from this checkout, and the deploy helpers."""
    specs = list(specs)
    image = modal.Image.debian_slim(python_version=PYTHON_VERSION)
    apt = list(apt)
    if apt:
        image = image.apt_install(*apt)
    requirements = pinned({*third_party_requirements(specs), *pip})
    if requirements:
        image = image.pip_install(*requirements)
    packages = [package for package, _ in local_packages(specs)]
    for package in packages:
        image = image.add_local_dir(REPO_ROOT / package.path, package.remote_path, copy=True, ignore=IGNORE)
    image = image.pip_install(*(p.remote_path for p in packages), extra_options="--no-deps")
    image = image.env({"PYTHONUNBUFFERED": "1", **(env or {})})
    return with_deploy_modules(image)


def with_deploy_modules(image: modal.Image) -> modal.Image:
    """Add the shared deploy modules next to the app file (``/root``), where the app's imports find them."""
    for name in SHARED_MODULES:
        image = image.add_local_file(DEPLOY_DIR / name, f"/root/{name}")
    return image


def gateway_image() -> modal.Image:
    """The gateway: the SDK clients and the runtime, no engines, no torch."""
    return service_image(["sdk", "runtime", "gateway"])


def image_utils_image() -> modal.Image:
    """Image utilities: OpenCV and Pillow on the CPU, no torch."""
    return service_image(["sdk", "runtime", "image-utils"], apt=["libglib2.0-0"])


def jobs_image() -> modal.Image:
    """The job manager: state machine and stores; talks to Modal (Dict, Queue, Volume, spawn), no torch.
    ``retouch.jobs.modal`` imports the Modal client: the deploying client's own version is pinned."""
    return service_image(["sdk", "runtime", "jobs"], pip=[f"modal=={modal.__version__}"])


def segmentation_image() -> modal.Image:
    """Segmentation with the FastSAM engine (ultralytics and torch: ultralytics pulls full OpenCV, which needs libGL)."""
    return service_image(["sdk", "runtime", "segmentation[fastsam]"], apt=["libgl1", "libglib2.0-0"])


def generation_image() -> modal.Image:
    """Generation with the Qwen-Image-Edit engine (torch, torchvision, diffusers, transformers, peft,
    accelerate, each at its :data:`MODEL_PINS` version), plus ``huggingface_hub`` for the weight
    download entry point."""
    return service_image(
        ["sdk", "runtime", "generation[qwen]"],
        apt=["libglib2.0-0"],
        pip=["huggingface_hub>=0.34"],
    )


def trampoline_image() -> modal.Image:
    """The generation app's spawn entry point: only the SDK (the contract's names), no model code."""
    return service_image(["sdk"])
