"""Helpers for the local-stack tests: fake services run as real child processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from retouch.local import ServiceSpec, StackSettings

HERE = Path(__file__).resolve().parent


def fake(name: str, factory: str = "create_app") -> ServiceSpec:
    """A service spec running one of ``fake_services``' factories."""
    return ServiceSpec(name, f"fake_services:{factory}")


def fake_environ(**extra: str) -> dict[str, str]:
    """The test environment plus ``PYTHONPATH`` so children can import ``fake_services``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def fake_settings(tmp_path: Path, **overrides: object) -> StackSettings:
    """Settings for a stack of two fake services and a fake gateway on free ports."""
    values: dict[str, object] = {
        "port": 0,
        "data_dir": tmp_path / "data",
        "services": [fake("alpha"), fake("beta")],
        "gateway": fake("gateway"),
        "base_env": fake_environ(),
        "startup_timeout_s": 60.0,
        "stop_timeout_s": 10.0,
        "web_dir": None,
    }
    values.update(overrides)
    return StackSettings(**values)  # type: ignore[arg-type]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_dead(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Wait until every pid is gone; returns the ones still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if pid_alive(pid)]
        if alive:
            time.sleep(0.1)
    return alive
