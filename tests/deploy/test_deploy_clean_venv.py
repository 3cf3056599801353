"""``modal deploy deploy/<any>.py`` right after the README's ``pip install modal``: every deploy file
imports in a fresh virtual environment that holds nothing but modal (no msgspec, no SDK, no
retouch package). The environment is built once per test session, from PyPI; the test skips only
when pip cannot reach the registry."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILES = sorted(p.stem for p in (REPO_ROOT / "deploy").glob("*.py"))


@pytest.fixture(scope="session")
def modal_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a new venv in which only ``pip install modal`` was run."""
    directory = tmp_path_factory.mktemp("modal-only-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    python = directory / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "modal"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if install.returncode != 0:
        reachable = subprocess.run(
            [str(python), "-m", "pip", "download", "--no-deps", "-q", "-d", str(directory / "probe"), "six"],
            capture_output=True,
            timeout=300,
        )
        if reachable.returncode != 0:
            pytest.skip(f"pip cannot reach the package registry: {install.stderr.strip()[-300:]}")
        raise AssertionError(f"pip install modal failed: {install.stderr[-2000:]}")
    return python


def test_the_venv_has_modal_and_nothing_of_ours(modal_only_python: Path) -> None:
    code = (
        "import importlib.util as u, modal\n"
        "print(all(u.find_spec(n) is None for n in ('retouch', 'torch', 'numpy', 'PIL', 'starlette')))\n"
    )
    done = subprocess.run([str(modal_only_python), "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_each_deploy_file_imports_with_only_modal_installed(modal_only_python: Path, name: str) -> None:
    # As `modal deploy deploy/<name>.py` does: the file's folder on sys.path, the repository as cwd.
    code = f"import sys; sys.path.insert(0, 'deploy'); import {name}; print('imported', {name}.__name__)"
    done = subprocess.run(
        [str(modal_only_python), "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(modal_only_python.parents[1])},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith(f"imported {name}")


def test_the_test_runs_the_deploy_files_that_exist() -> None:
    assert {"gateway", "generation", "segmentation", "image_utils", "jobs", "images", "_common"} <= set(DEPLOY_FILES)
    assert sys.version_info >= (3, 11)
