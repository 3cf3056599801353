"""One device rule for every model engine (lama, qwen, fastsam, mobile_sam)."""

from __future__ import annotations

import pytest
import torch

from retouch.runtime.devices import torch_device


@pytest.mark.parametrize("setting", ["cpu", "cuda", "cuda:1", "mps", " cpu "])
def test_an_explicit_device_is_kept(setting: str) -> None:
    assert torch_device(setting) == setting.strip()


@pytest.mark.parametrize("setting", [None, "", "auto", "AUTO"])
@pytest.mark.parametrize("gpu", [True, False])
def test_unset_or_auto_picks_the_gpu_when_torch_sees_one(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, gpu: bool
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert torch_device(setting) == ("cuda" if gpu else "cpu")
