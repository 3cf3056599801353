"""A process that has loaded an ultralytics engine still refuses a non-image with a 422.

ultralytics patches ``PIL.Image.open`` on import so that an unidentified file triggers a pip install
of ``pi-heif``; without it, every picture route of that process answered a 500.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CHECK = """
import os, sys
from PIL import Image
pillow_open = Image.open
from retouch.segmentation.engines.ultralytics_import import prepare
prepare()
import ultralytics.utils.patches  # importing more of ultralytics does not patch again
from retouch.runtime.images import open_image
from retouch.runtime.problems import ProblemError
try:
    open_image(b"hello, not an image", field="image")
except ProblemError as exc:
    print(exc.status, "|", exc.detail)
print(Image.open is pillow_open, os.environ["YOLO_AUTOINSTALL"])
"""


def test_pillow_open_is_given_back_and_a_non_image_is_a_422() -> None:
    # Not imported here: that would patch this test process too.
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (the fastsam extra)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-2].startswith("422 | image: not a recognised image"), lines
    assert lines[-1] == "True false", lines
