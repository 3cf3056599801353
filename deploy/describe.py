"""A dry description of the five Modal apps: ``python deploy/describe.py [--workspace NAME]``.

Imports each ``deploy/<service>.py`` exactly as ``modal deploy`` does (no network, no Modal
account) and prints what the app objects say: functions and classes, web labels and URLs, GPU,
CPU and memory, scaling, concurrency, proxy auth, secrets and volumes, and the local packages each
image installs. The tests in ``tests/deploy`` read the apps through the same functions.

Modal keeps a function's configuration on the (otherwise private) objects that its decorators
return; the readers below are the one place that knows where, so a Modal upgrade that moves them
breaks here, loudly, and nowhere else.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import modal

DEPLOY_DIR = Path(__file__).resolve().parent

#: Service key -> the deploy file that defines its app.
SERVICE_FILES: dict[str, str] = {
    "gateway": "gateway.py",
    "job_manager": "jobs.py",
    "generation": "generation.py",
    "segmentation": "segmentation.py",
    "image_utils": "image_utils.py",
}

#: The image builder version used to render build steps (Modal's newest; only the text is read).
BUILDER_VERSION = "2025.06"

__all__ = [
    "SERVICE_FILES",
    "FunctionDescription",
    "ImageLayer",
    "describe_app",
    "image_layers",
    "load_service",
    "main",
    "render_table",
]


@dataclass(frozen=True)
class FunctionDescription:
    """One Modal function or class of an app, as its objects configure it."""

    app: str
    name: str
    kind: str  # "function" or "class"
    obj: Any
    methods: tuple[str, ...] = ()
    label: str | None = None
    web_method: str | None = None
    requires_proxy_auth: bool = False
    gpu: str | None = None
    cpu: float | None = None
    memory_mib: int | None = None
    min_containers: int | None = None
    max_containers: int | None = None
    scaledown_window: int | None = None
    max_inputs: int | None = None
    target_inputs: int | None = None
    timeout: int | None = None
    schedule: str | None = None
    memory_snapshot: bool = False
    secrets: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)
    image: Any = None

    @property
    def scales_to_zero(self) -> bool:
        return not self.min_containers


@dataclass(frozen=True)
class ImageLayer:
    """One step of an image: Dockerfile commands, files copied in at build time (``copy=True``), or
    files added at container start (``add_local_*``). ``files`` are ``(local path, remote path)``."""

    kind: str  # "build" or "mount"
    commands: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()


def load_service(service: str, *, fresh: bool = False) -> ModuleType:
    """Import ``deploy/<service>.py`` the way ``modal deploy`` does: by file, as a top-level module
    named after the file, with ``deploy/`` on ``sys.path`` for its shared modules."""
    filename = SERVICE_FILES[service]
    module_name = filename.removesuffix(".py")
    if not fresh and module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None):
        module = sys.modules[module_name]
        if Path(module.__file__ or "").resolve() == DEPLOY_DIR / filename:
            return module
    if str(DEPLOY_DIR) not in sys.path:
        sys.path.insert(0, str(DEPLOY_DIR))
    spec = importlib.util.spec_from_file_location(module_name, DEPLOY_DIR / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _raw(obj: Any) -> Any:
    """The object behind Modal's blocking/async wrapper (decorators and builders return wrappers)."""
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(obj)  # type: ignore[no-untyped-call]


def _closure(func: Callable[..., Any]) -> dict[str, Any]:
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    if code is None:
        return {}
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, cells, strict=True)}


def _secret_name(secret: Any) -> str:
    if getattr(secret, "_name", None):
        return str(secret._name)
    keys = sorted(getattr(secret, "_keys", ()) or ())
    return f"env({','.join(keys)})"


def _secret_env(secret: Any) -> dict[str, str]:
    loader = getattr(secret, "_load_env_dict", None)
    return dict(loader()) if callable(loader) else {}


def _gpu(spec_gpus: Any) -> str | None:
    if not spec_gpus:
        return None
    return spec_gpus if isinstance(spec_gpus, str) else ",".join(spec_gpus)


def describe_app(app: modal.App) -> list[FunctionDescription]:
    """Every function and class registered on ``app``, with the settings its decorators gave it."""
    state = _raw(app)._local_state
    described = []
    for tag, function in state.functions.items():
        loader = _closure(function._load)
        spec = function._spec_
        info = function._function_info
        autoscaler = loader["autoscaler_settings"]
        kind = "class" if tag.endswith(".*") else "function"
        name = tag.removesuffix(".*")
        label, web_method, proxy_auth = None, None, False
        webhook = loader.get("webhook_config")
        if webhook is not None and webhook.type:
            label, proxy_auth = webhook.requested_suffix, bool(webhook.requires_proxy_auth)
        methods = loader.get("method_definitions") or {}
        for method_name, definition in methods.items():
            if definition.webhook_config.type:
                label, web_method = definition.webhook_config.requested_suffix, method_name
                proxy_auth = bool(definition.webhook_config.requires_proxy_auth)
        concurrency = info.concurrency_info
        env: dict[str, str] = {}
        for secret in spec.secrets:
            env.update(_secret_env(secret))
        memory = spec.memory[0] if isinstance(spec.memory, tuple) else spec.memory
        cpu = spec.cpu[0] if isinstance(spec.cpu, tuple) else spec.cpu
        described.append(
            FunctionDescription(
                app=app.name or "",
                name=name,
                kind=kind,
                obj=state.classes.get(name) if kind == "class" else function,
                methods=tuple(methods),
                label=label,
                web_method=web_method,
                requires_proxy_auth=proxy_auth,
                gpu=_gpu(spec.gpus),
                cpu=cpu,
                memory_mib=memory,
                min_containers=autoscaler.min_containers if autoscaler.HasField("min_containers") else None,
                max_containers=autoscaler.max_containers if autoscaler.HasField("max_containers") else None,
                scaledown_window=autoscaler.scaledown_window if autoscaler.HasField("scaledown_window") else None,
                max_inputs=concurrency.max_inputs if concurrency else None,
                target_inputs=concurrency.target_inputs if concurrency else None,
                timeout=info.timeout,
                schedule=info.schedule,
                memory_snapshot=bool(loader.get("enable_memory_snapshot")),
                secrets=tuple(_secret_name(s) for s in spec.secrets),
                env=env,
                volumes={str(path): str(mount.name) for path, mount in info.volumes.items()},
                image=spec.image,
            )
        )
    return described


def _mount_files(mount: Any) -> tuple[tuple[str, str], ...]:
    files = []
    for entry in mount.entries:
        local = getattr(entry, "local_dir", None) or getattr(entry, "local_file", None)
        files.append((str(local), str(entry.remote_path)))
    return tuple(files)


def image_layers(image: Any) -> list[ImageLayer]:
    """The steps that build ``image``, base first."""
    layers: list[ImageLayer] = []
    current = _raw(image)
    while current is not None:
        loader = _closure(current._load)
        if "mount" in loader and "base_image" in loader:
            layers.append(ImageLayer(kind="mount", files=_mount_files(loader["mount"])))
            current = loader["base_image"]
            continue
        dockerfile = loader.get("dockerfile_function")
        commands = tuple(dockerfile(BUILDER_VERSION).commands) if dockerfile else ()
        context = loader.get("context_mount_function")
        context_mount = context(BUILDER_VERSION) if context else None
        files = _mount_files(context_mount) if context_mount is not None else ()
        layers.append(ImageLayer(kind="build", commands=commands, files=files))
        bases = list((loader.get("base_images") or {}).values())
        current = bases[0] if bases else None
    layers.reverse()
    return layers


def image_local_packages(image: Any) -> list[str]:
    """The repository folders (``packages/<name>``) copied into ``image`` at build time."""
    root = DEPLOY_DIR.parent
    found = []
    for layer in image_layers(image):
        if layer.kind != "build":
            continue
        for local, _remote in layer.files:
            path = Path(local)
            if path.is_relative_to(root):
                found.append(path.relative_to(root).as_posix())
    return found


def _url(label: str | None, workspace: str) -> str:
    return f"https://{workspace}--{label}.modal.run" if label else "-"


def _scaling(item: FunctionDescription) -> str:
    if item.schedule:
        return f"schedule {item.schedule}"
    low = item.min_containers or 0
    high = "∞" if item.max_containers is None else str(item.max_containers)
    idle = f", idle {item.scaledown_window}s" if item.scaledown_window else ""
    return f"{low}..{high}{idle}" + (" (always on)" if low else " (to zero)")


def _resources(item: FunctionDescription) -> str:
    parts = [f"gpu {item.gpu}" if item.gpu else "cpu"]
    if item.cpu:
        parts.append(f"{item.cpu:g} cores")
    if item.memory_mib:
        parts.append(f"{item.memory_mib} MiB")
    if item.memory_snapshot:
        parts.append("snapshot")
    return ", ".join(parts)


def _concurrency(item: FunctionDescription) -> str:
    if item.max_inputs is None:
        return "1"
    return f"{item.target_inputs or item.max_inputs}/{item.max_inputs}"


def render_table(services: Iterable[str], workspace: str) -> str:
    """The apps as a text table (one row per function or class)."""
    header = ("app", "function", "url", "resources", "scaling", "concurrency", "proxy auth", "secrets", "volumes")
    rows: list[Sequence[str]] = [header]
    packages: list[str] = []
    for service in services:
        module = load_service(service)
        for item in describe_app(module.app):
            rows.append(
                (
                    item.app,
                    item.name + (f".{item.web_method}" if item.web_method else ""),
                    _url(item.label, workspace),
                    _resources(item),
                    _scaling(item),
                    _concurrency(item),
                    "yes" if item.requires_proxy_auth else ("-" if not item.label else "no"),
                    ", ".join(s for s in item.secrets if not s.startswith("env(")) or "-",
                    ", ".join(f"{name}:{path}" for path, name in item.volumes.items()) or "-",
                )
            )
            installed = ", ".join(p.removeprefix("packages/") for p in image_local_packages(item.image))
            packages.append(f"  {item.app}/{item.name}: {installed or '-'}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*lines, "", "local packages in each image:", *packages])


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of the five apps."""
    parser = argparse.ArgumentParser(prog="python deploy/describe.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workspace",
        default=os.environ.get("RETOUCH_MODAL_WORKSPACE", "<workspace>"),
        help="Modal workspace name, for the URLs (default: $RETOUCH_MODAL_WORKSPACE)",
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=f"only these ({', '.join(SERVICE_FILES)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(SERVICE_FILES))
    if unknown:
        parser.error(f"unknown services {unknown}; known: {', '.join(SERVICE_FILES)}")
    print(render_table(args.services or list(SERVICE_FILES), args.workspace))
    return 0


if __name__ == "__main__":
    sys.exit(main())
