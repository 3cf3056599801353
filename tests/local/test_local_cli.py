"""``retouch-local`` as a user runs it: a real process tree, stopped by signals or a child's death."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from stack_helpers import fake_environ, pid_alive, wait_dead

_ROW = re.compile(r"^  (?P<label>\S.*?)\s+(?P<url>http://\S+)(?:\s+pid (?P<pid>\d+))?$")
FAKES = [
    "--only",
    "alpha,beta",
    "--service",
    "alpha=fake_services:create_app",
    "--service",
    "beta=fake_services:create_app",
    "--gateway",
    "fake_services:create_app",
]


@dataclass
class Running:
    """A ``retouch-local serve`` process and what it printed."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    def read_until(self, marker: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            match = _ROW.match(line)
            if match:
                self.urls[match["label"]] = match["url"]
                if match["pid"]:
                    self.pids[match["label"]] = int(match["pid"])
            if marker in line:
                return
        raise AssertionError(f"{marker!r} not printed; output:\n" + "\n".join(self.output))

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        code = self.proc.wait(timeout)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


def _pump(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.rstrip("\n"))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[Running]]:
    """Starts ``retouch-local serve`` in its own session (like a terminal's foreground job)."""
    running: list[Running] = []
    yield running
    for item in running:
        if item.proc.poll() is None:
            os.killpg(item.proc.pid, signal.SIGKILL)
            item.proc.wait(10)
        wait_dead(list(item.pids.values()), timeout=10)


def _start(serve: list[Running], tmp_path: Path, *args: str, **env: str) -> Running:
    base = fake_environ(**env)
    base.setdefault("RETOUCH_DATA_DIR", str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "retouch.local.cli", "serve", *args],
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    running = Running(proc)
    threading.Thread(target=_pump, args=(proc.stdout, running.lines), daemon=True).start()
    serve.append(running)
    return running


def test_serve_prints_urls_and_sigterm_stops_everything(tmp_path: Path, serve: list[Running]) -> None:
    data = tmp_path / "from-env"
    running = _start(serve, tmp_path, *FAKES, RETOUCH_PORT="0", RETOUCH_DATA_DIR=str(data))
    running.read_until("Press Ctrl-C to stop.")
    assert set(running.pids) == {"gateway", "alpha", "beta"}
    assert {"gateway", "alpha", "beta", "api docs"} <= set(running.urls)
    assert running.urls["api docs"] == running.urls["gateway"] + "/api/openapi.json"
    assert any(f"data in {data}" in line for line in running.output)
    for name in ("gateway", "alpha", "beta"):
        assert httpx.get(running.urls[name] + "/api/health", timeout=10).status_code == 200
    running.proc.send_signal(signal.SIGTERM)
    code, err = running.finish()
    assert code == 0, err
    assert "SIGTERM: stopping" in err
    assert wait_dead(list(running.pids.values())) == []


def test_ctrl_c_stops_everything(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(serve, tmp_path, *FAKES, "--port", "0")
    running.read_until("Press Ctrl-C to stop.")
    # A terminal's Ctrl-C reaches the whole foreground process group, children included.
    os.killpg(running.proc.pid, signal.SIGINT)
    code, err = running.finish()
    assert code == 0, err
    assert "exited unexpectedly" not in err
    assert wait_dead(list(running.pids.values())) == []


def _wait_answering(url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers its health check."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url + "/api/health", timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_dying_child_is_restarted_and_the_rest_keep_running(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(serve, tmp_path, *FAKES, "--port", "0")
    running.read_until("Press Ctrl-C to stop.")
    # A crash from outside: the CLI names the child and starts it again; the others stay up.
    before = set(_children(running.proc.pid))
    os.kill(running.pids["beta"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        now = set(_children(running.proc.pid))
        if len(now) == 3 and now != before:
            break
        assert time.monotonic() < deadline, "beta was not restarted"
        time.sleep(0.1)
    (restarted,) = now - before
    assert pid_alive(running.pids["alpha"]) and pid_alive(running.pids["gateway"])
    _wait_answering(running.urls["beta"])
    running.proc.send_signal(signal.SIGTERM)
    code, err = running.finish()
    assert code == 0, err
    assert "beta exited unexpectedly with signal SIGKILL; restarting it in 0.5 s" in err
    assert f"restarted beta (pid {restarted})" in err
    assert wait_dead([*running.pids.values(), restarted]) == []


def test_with_no_restart_a_dying_child_stops_everything_and_is_named(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(serve, tmp_path, *FAKES, "--port", "0", "--no-restart")
    running.read_until("Press Ctrl-C to stop.")
    os.kill(running.pids["beta"], signal.SIGKILL)
    code, err = running.finish()
    assert code == 1
    assert "beta exited unexpectedly with signal SIGKILL; stopping everything" in err
    assert wait_dead(list(running.pids.values())) == []


def test_children_go_when_retouch_local_is_killed(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(serve, tmp_path, *FAKES, "--port", "0")
    running.read_until("Press Ctrl-C to stop.")
    running.proc.send_signal(signal.SIGKILL)  # no chance to clean up: the children must follow anyway
    running.proc.wait(10)
    assert wait_dead(list(running.pids.values())) == []


def test_a_failing_service_at_start_up_exits_non_zero(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(
        serve, tmp_path, "--port", "0", "--only", "alpha", "--service", "alpha=fake_services:create_broken_app"
    )
    code, err = running.finish()
    assert code == 2
    assert "alpha exited with code 1 during start-up" in err
    assert "fake start-up failure" in err


def test_a_public_host_without_keys_is_refused(tmp_path: Path, serve: list[Running]) -> None:
    env = {"RETOUCH_API_KEYS": ""}
    running = _start(serve, tmp_path, *FAKES, "--host", "0.0.0.0", "--port", "0", **env)
    code, err = running.finish()
    assert code == 2
    assert "refusing to bind 0.0.0.0" in err and "RETOUCH_API_KEYS" in err
    assert not (tmp_path / "data").exists()  # nothing was started


def test_a_bad_port_variable_is_named(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(serve, tmp_path, *FAKES, RETOUCH_PORT="eighty")
    code, err = running.finish()
    assert code == 2
    assert "RETOUCH_PORT='eighty' is not a port number" in err


def test_an_unknown_service_name_is_refused(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(serve, tmp_path, "--without", "nope")
    code, err = running.finish()
    assert code == 2
    assert "unknown service nope" in err


def test_services_lists_the_installed_ones() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "retouch.local.cli", "services"], capture_output=True, text=True, timeout=60, check=True
    )
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["image_utils", "segmentation", "generation", "job_manager"]


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "retouch-local"
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.startswith("retouch-local ")


def test_pid_helper_sees_live_and_dead_processes() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not pid_alive(proc.pid)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_ctrl_c_during_start_up_stops_what_started(tmp_path: Path, serve: list[Running]) -> None:
    running = _start(
        serve,
        tmp_path,
        "--port",
        "0",
        "--only",
        "alpha,sick",
        "--service",
        "alpha=fake_services:create_app",
        "--service",
        "sick=fake_services:create_unhealthy_app",
        "--gateway",
        "fake_services:create_app",
    )
    # The never-ready service keeps the stack starting; interrupt once both children run.
    running.read_until("sick         | ", timeout=60)
    children = _children(running.proc.pid)
    assert len(children) == 2
    running.pids = {str(pid): pid for pid in children}
    os.killpg(running.proc.pid, signal.SIGINT)
    code, err = running.finish()
    assert code == 0, err
    assert "interrupted during start-up" in err
    assert wait_dead(children) == []
