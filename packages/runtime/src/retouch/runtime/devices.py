"""Which torch device a model engine runs on: one rule for every engine that has a device setting."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["AUTO_DEVICES", "torch_device"]

#: Settings that mean "pick for me".
AUTO_DEVICES = frozenset({"", "auto"})


def torch_device(setting: str | None, *, gpu_available: Callable[[], bool]) -> str:
    """``setting`` as given (``cpu``, ``cuda``, ``cuda:1``, ``mps``...), or, when it is unset or
    ``auto``, ``cuda`` if ``gpu_available()`` (the engine passes ``torch.cuda.is_available``: the
    runtime itself never imports torch) and ``cpu`` otherwise."""
    if setting is not None and setting.strip().lower() not in AUTO_DEVICES:
        return setting.strip()
    return "cuda" if gpu_available() else "cpu"
