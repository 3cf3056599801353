"""Which torch device a model engine runs on: one rule for every engine that has a device setting."""

from __future__ import annotations

__all__ = ["AUTO_DEVICES", "torch_device"]

#: Settings that mean "pick for me".
AUTO_DEVICES = frozenset({"", "auto"})


def torch_device(setting: str | None) -> str:
    """``setting`` as given (``cpu``, ``cuda``, ``cuda:1``, ``mps``...), or, when it is unset or
    ``auto``, ``cuda`` where torch sees a GPU and ``cpu`` otherwise. torch is imported only here,
    only then: the runtime itself never needs it."""
    if setting is not None and setting.strip().lower() not in AUTO_DEVICES:
        return setting.strip()
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
