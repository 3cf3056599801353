"""``deploy/describe.py``: its readers checked against Modal objects built here, and its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import modal
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_readers_get_back_what_the_decorators_were_given(describe: ModuleType, tmp_path: Path) -> None:
    # A throwaway app with every setting describe reports: if a Modal upgrade moves where they are
    # kept, this fails here rather than the deploy tests passing on defaults.
    app = modal.App("describe-check")
    image = modal.Image.debian_slim(python_version="3.12").pip_install("msgspec")

    @app.function(
        image=image,
        gpu="L4",
        cpu=1.5,
        memory=2048,
        min_containers=1,
        max_containers=3,
        scaledown_window=77,
        timeout=123,
        secrets=[modal.Secret.from_name("some-secret")],
        env={"A": "1"},
        volumes={"/vol": modal.Volume.from_name("some-volume")},
        enable_memory_snapshot=True,
        serialized=True,
        name="web",
    )
    @modal.concurrent(max_inputs=9, target_inputs=5)
    @modal.asgi_app(label="describe-check", requires_proxy_auth=True)
    def web() -> object:
        return None

    @app.cls(image=image, serialized=True)
    class Thing:
        @modal.method()
        def act(self) -> None: ...

    @app.function(image=image, schedule=modal.Cron("0 3 * * *"), serialized=True, name="nightly")
    def nightly() -> None: ...

    items = {item.name: item for item in describe.describe_app(app)}
    assert set(items) == {"web", "Thing", "nightly"}
    w = items["web"]
    assert (w.kind, w.label, w.requires_proxy_auth, w.gpu, w.cpu, w.memory_mib) == (
        "function",
        "describe-check",
        True,
        "L4",
        1.5,
        2048,
    )
    assert (w.min_containers, w.max_containers, w.scaledown_window, w.timeout) == (1, 3, 77, 123)
    assert (w.max_inputs, w.target_inputs, w.memory_snapshot) == (9, 5, True)
    assert w.secrets == ("some-secret", "env(A)") and w.env == {"A": "1"}
    assert w.volumes == {"/vol": "some-volume"}
    thing = items["Thing"]
    assert (thing.kind, thing.methods, thing.label, thing.min_containers, thing.max_inputs) == (
        "class",
        ("act",),
        None,
        None,
        None,
    )
    assert items["nightly"].schedule is not None and "0 3 * * *" in items["nightly"].schedule


def test_image_layers_list_build_steps_base_first(describe: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "note.txt").write_text("x")
    image = (
        modal.Image.debian_slim(python_version="3.12")
        .apt_install("libgl1")
        .add_local_dir(tmp_path / "pkg", "/opt/pkg", copy=True)
        .pip_install("/opt/pkg", extra_options="--no-deps")
        .add_local_file(tmp_path / "note.txt", "/root/note.txt")
    )
    layers = describe.image_layers(image)
    assert [layer.kind for layer in layers] == ["build", "build", "build", "build", "mount"]
    assert layers[0].commands[0].startswith("FROM python:3.12")
    assert any("libgl1" in command for command in layers[1].commands)
    assert layers[2].files == ((str(tmp_path / "pkg"), "/opt/pkg"),)
    assert any("pip install /opt/pkg --no-deps" in command for command in layers[3].commands)
    assert layers[4].files == ((str(tmp_path / "note.txt"), "/root/note.txt"),)


def test_the_table_lists_the_five_apps_with_urls_resources_and_packages(
    describe: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert describe.main(["--workspace", "acme"]) == 0
    out = capsys.readouterr().out
    for app in ("retouch-gateway", "retouch-jobs", "retouch-generation", "retouch-segmentation", "retouch-image-utils"):
        assert app in out
    for label in ("api-gateway", "job-manager", "qwen", "fastsam", "image-utils"):
        assert f"https://acme--{label}.modal.run" in out
    assert "gpu T4" in out and "gpu H100" in out
    assert "(always on)" in out and "(to zero)" in out
    assert "retouch-gateway/serve: sdk, runtime, gateway" in out


def test_unknown_services_are_refused(describe: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        describe.main(["billing"])
    assert exit_info.value.code == 2
    assert "unknown services ['billing']" in capsys.readouterr().err


def test_python_deploy_describe_py_runs_as_a_script(tmp_path: Path) -> None:
    env = {**os.environ, "RETOUCH_MODAL_WORKSPACE": "acme", "HOME": str(tmp_path)}
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "deploy/describe.py", "gateway"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "https://acme--api-gateway.modal.run" in result.stdout
    assert "retouch-jobs" not in result.stdout
