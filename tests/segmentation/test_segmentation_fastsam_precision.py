"""FastSAM on a GPU asks ultralytics for FP16 the way the pinned ultralytics wants it: no deprecation
warning logged on every smart-mask click."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_fp16_on_the_gpu_is_asked_without_a_deprecated_flag(
    fastsam_weights: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from seg_support import fastsam_settings
    from ultralytics.cfg import _handle_deprecation

    from retouch.segmentation.engines.fastsam import FastSAMEngine

    engine = FastSAMEngine(fastsam_settings(fastsam_weights))
    asked: list[dict[str, Any]] = []

    class Model:
        predictor = type("Predictor", (), {"raw": (None, None, (32, 32))})()

        def predict(self, _source: Any, **options: Any) -> None:
            asked.append(options)

    engine.model = Model()
    engine._predictor = object()  # type: ignore[attr-defined]
    monkeypatch.setattr(engine, "_device", "cuda:0")
    engine._predict(np.zeros((32, 32, 3), np.uint8))
    (options,) = asked
    assert options.get("quantize") == 16 and "half" not in options
    # What ultralytics does with those options on every call: nothing to warn about.
    caplog.set_level(logging.WARNING)
    _handle_deprecation(dict(options))
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]
    _handle_deprecation({"half": True})  # the flag it replaces would have warned
    assert [r for r in caplog.records if "deprecated" in r.getMessage()]
