"""One device rule for every model engine (lama, qwen, fastsam, mobile_sam)."""

from __future__ import annotations

import pytest

from retouch.runtime.devices import torch_device


def _never() -> bool:
    raise AssertionError("an explicit device needs no GPU probe")


@pytest.mark.parametrize("setting", ["cpu", "cuda", "cuda:1", "mps", " cpu "])
def test_an_explicit_device_is_kept(setting: str) -> None:
    assert torch_device(setting, gpu_available=_never) == setting.strip()


@pytest.mark.parametrize("setting", [None, "", "auto", "AUTO"])
@pytest.mark.parametrize("gpu", [True, False])
def test_unset_or_auto_picks_the_gpu_when_there_is_one(setting: str | None, gpu: bool) -> None:
    assert torch_device(setting, gpu_available=lambda: gpu) == ("cuda" if gpu else "cpu")
