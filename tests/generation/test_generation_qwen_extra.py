"""The ``qwen`` extra alone loads the pipeline for real.

The test environment also holds ultralytics (the segmentation extra), which pulls torchvision in;
that once hid a ``qwen`` extra without torchvision (``Qwen2VLVideoProcessor requires the
Torchvision library`` on the first deploy). So this builds a fresh virtual environment from exactly
``retouch-generation[qwen]`` (and the two packages it depends on), once per session, and loads a
tiny saved pipeline there through the engine's own loading code.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = REPO_ROOT / "packages"


@pytest.fixture(scope="session")
def qwen_extra_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a new venv holding only ``retouch-generation[qwen]`` and what it needs."""
    directory = tmp_path_factory.mktemp("qwen-extra-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    python = directory / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            str(PACKAGES / "sdk"),
            str(PACKAGES / "runtime"),
            f"{PACKAGES / 'generation'}[qwen]",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert install.returncode == 0, f"installing the qwen extra failed: {install.stderr[-3000:]}"
    return python


LOAD_SCRIPT = """
import importlib.util, json
from retouch.generation.engines.qwen import create
from retouch.generation.settings import GenerationSettings
from retouch.runtime.settings import load_settings
from transformers import Qwen2VLVideoProcessor

engine = create(load_settings(GenerationSettings))
engine.load()
pipe = engine.pipeline
print(json.dumps({
    "pipeline": type(pipe).__name__,
    "processor": type(pipe.processor).__name__,
    "video": type(Qwen2VLVideoProcessor()).__name__,
    "ultralytics": importlib.util.find_spec("ultralytics") is not None,
    "tasks": engine.task_states(),
}))
"""


def test_the_qwen_extra_alone_loads_the_pipeline_and_its_processors(qwen_extra_python: Path, tmp_path: Path) -> None:
    from tiny_qwen import build_tiny_qwen

    env = build_tiny_qwen(tmp_path / "tiny")
    done = subprocess.run(
        [str(qwen_extra_python), "-c", LOAD_SCRIPT],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["pipeline"] == "QwenImageEditPlusPipeline"
    assert report["processor"] == "Qwen2VLProcessor"
    assert report["video"] == "Qwen2VLVideoProcessor"
    # Nothing outside the extra: torchvision must come from the extra itself.
    assert report["ultralytics"] is False
    assert all(not state.startswith("unavailable") for state in report["tasks"].values()), report["tasks"]
