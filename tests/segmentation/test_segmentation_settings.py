"""Configuration from the environment, and start-up failures that name what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from retouch.runtime.settings import SettingsError, load_settings
from retouch.segmentation.app import create_app
from retouch.segmentation.settings import SegmentationSettings


def test_settings_come_from_the_environment() -> None:
    settings = load_settings(
        SegmentationSettings,
        {
            "RETOUCH_SEGMENTATION_ENGINE": "fastsam",
            "RETOUCH_FASTSAM_WEIGHTS": "/models/FastSAM-x.pt",
            "RETOUCH_FASTSAM_CONF": "0.25",
            "RETOUCH_FASTSAM_IMGSZ": "640",
            "RETOUCH_SEGMENTATION_MAX_POINTS": "16",
            "RETOUCH_SEGMENTATION_CACHE_BYTES": "1000000",
        },
    )
    assert settings.engine == "fastsam" and settings.fastsam_weights == Path("/models/FastSAM-x.pt")
    assert (settings.fastsam_conf, settings.fastsam_imgsz, settings.max_points) == (0.25, 640, 16)
    assert settings.cache_bytes == 1_000_000


def test_grabcut_is_the_default_engine() -> None:
    assert load_settings(SegmentationSettings, {}).engine == "grabcut"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"RETOUCH_SEGMENTATION_ENGINE": "sam2"}, "RETOUCH_SEGMENTATION_ENGINE"),
        ({"RETOUCH_SEGMENTATION_ENGINE": "fastsam"}, "RETOUCH_FASTSAM_WEIGHTS"),
        ({"RETOUCH_SEGMENTATION_MAX_POINTS": "0"}, "RETOUCH_SEGMENTATION_MAX_POINTS"),
        ({"RETOUCH_FASTSAM_CONF": "1.5"}, "RETOUCH_FASTSAM_CONF"),
        ({"RETOUCH_SEGMENTATION_CACHE_BYTES": "lots"}, "RETOUCH_SEGMENTATION_CACHE_BYTES"),
    ],
)
def test_a_bad_setting_names_its_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(SegmentationSettings, environ)


def test_missing_fastsam_weights_fail_start_up_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "FastSAM-x.pt"
    settings = SegmentationSettings(engine="fastsam", fastsam_weights=missing)
    with pytest.raises(SettingsError, match="RETOUCH_FASTSAM_WEIGHTS") as caught:
        create_app(settings)
    assert str(missing) in str(caught.value)


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOUCH_SEGMENTATION_ENGINE", "grabcut")
    monkeypatch.setenv("RETOUCH_SEGMENTATION_MAX_POINTS", "7")
    app = create_app()
    assert app.state.segmentation.settings.max_points == 7
    assert app.state.segmentation.engine.name == "grabcut"


def test_the_service_does_not_import_torch_or_ultralytics_unless_fastsam_loads() -> None:
    code = (
        "import sys\n"
        "from retouch.segmentation.app import create_app\n"
        "create_app()\n"
        "heavy = sorted(m for m in ('torch', 'ultralytics') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "RETOUCH_SEGMENTATION_ENGINE": "grabcut"}
    )
