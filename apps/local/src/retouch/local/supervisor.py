"""Child processes of the stack: spawning, log forwarding, health waits and stopping."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Literal

import httpx

from retouch.local.ports import connect_host
from retouch.local.services import ServiceSpec
from retouch.runtime.concurrency import start_thread

__all__ = ["HealthProbe", "LogFormat", "LogSink", "ManagedProcess", "describe_exit"]

LogFormat = Literal["prefix", "json"]
_PR_SET_PDEATHSIG = 1


class LogSink:
    """Where children's output lines go: ``name | line`` or one JSON object a line.

    A stream that fails (closed, broken pipe) is dropped rather than left to block the children.
    """

    def __init__(self, stream: IO[str] | None, fmt: LogFormat = "prefix", width: int = 12) -> None:
        self.stream = stream
        self.fmt = fmt
        self.width = width
        self._lock = threading.Lock()

    def format(self, name: str, line: str) -> str:
        """The text written for one line of ``name``'s output."""
        if self.fmt == "prefix":
            return f"{name:<{self.width}} | {line}"
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            entry = {"msg": line}
        return json.dumps({"process": name, **entry})

    def emit(self, name: str, line: str) -> None:
        """Write one line of ``name``'s output."""
        if self.stream is None:
            return
        text = self.format(name, line) + "\n"
        with self._lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                self.stream = None


def _parent_death_signal() -> None:  # pragma: no cover - runs in the forked child
    # If retouch-local itself is killed (SIGKILL), its children go too instead of lingering.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class HealthProbe:
    """What the last ``GET /api/health`` said (for error messages)."""

    def __init__(self) -> None:
        self.last = "no answer yet"

    def ready(self, url: str, timeout_s: float = 2.0) -> bool:
        """Whether ``url`` answers its health check as ready or loading."""
        try:
            response = httpx.get(f"{url}/api/health", timeout=timeout_s)
        except httpx.HTTPError as exc:
            self.last = f"{type(exc).__name__}: {exc}"
            return False
        self.last = f"{response.status_code} {response.text[:200]}"
        return response.status_code == 200


class ManagedProcess:
    """One service process: ``python -m retouch.runtime.serve <factory> --host H --port P``."""

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        host: str,
        port: int,
        env: Mapping[str, str],
        sink: LogSink,
        cwd: Path | None = None,
        tail_lines: int = 40,
    ) -> None:
        self.spec = spec
        self.host = host
        self.port = port
        self.env = dict(env)
        self.sink = sink
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        #: Set when the stack stops or kills this process on purpose (its exit is not a failure).
        self.expected_exit = False
        #: ``time.monotonic()`` of the last start.
        self.started_at = 0.0
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._pump: threading.Thread | None = None

    @property
    def name(self) -> str:
        """The service's name."""
        return self.spec.name

    @property
    def url(self) -> str:
        """Where this service answers."""
        return f"http://{connect_host(self.host)}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self.popen.pid if self.popen else None

    @property
    def command(self) -> list[str]:
        """The command line the process runs."""
        return [
            sys.executable,
            "-m",
            "retouch.runtime.serve",
            self.spec.factory,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def start(self, *, long_lived_thread: bool = False) -> None:
        """Spawn the process and start forwarding its output.

        ``long_lived_thread``: the calling thread lives as long as the stack (the supervisor's), so
        the child may be tied to it like to the main thread."""
        self.expected_exit = False
        self._tail.clear()
        self.started_at = time.monotonic()
        on_main_thread = threading.current_thread() is threading.main_thread()
        # PDEATHSIG fires when the spawning *thread* ends, so it is only safe from a thread that
        # outlives the child: the main thread, or the stack's supervisor.
        tied = on_main_thread or long_lived_thread
        preexec = _parent_death_signal if tied and sys.platform == "linux" else None
        self.popen = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
        popen = self.popen
        self._pump = start_thread(lambda: self._forward(popen), name=f"log-{self.name}")

    def _forward(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for raw in iter(popen.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._tail.append(line)
            self.sink.emit(self.name, line)
        popen.stdout.close()

    def tail(self) -> list[str]:
        """The last lines the process wrote."""
        return list(self._tail)

    def poll(self) -> int | None:
        """The exit code, or ``None`` while running (or never started)."""
        return self.popen.poll() if self.popen else None

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.popen is not None and self.popen.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (marks the exit as expected)."""
        self.expected_exit = True
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Wait for the exit code (``None`` if still running after ``timeout_s``)."""
        if self.popen is None:
            return None
        try:
            code = self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None
        if self._pump is not None:
            self._pump.join(timeout=2)
        return code

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s`` seconds; returns the exit code."""
        if self.popen is None:
            return None
        self.send_signal(signal.SIGTERM)
        code = self.wait(timeout_s)
        if code is None:
            self.send_signal(signal.SIGKILL)
            code = self.wait(5)
        return code

    def wait_ready(
        self, timeout_s: float, should_abort: threading.Event | None = None, interval_s: float = 0.1
    ) -> str | None:
        """Poll the health check until it answers; ``None`` when ready, else why not
        (the process exited, the wait timed out, or ``should_abort`` was set)."""
        probe = HealthProbe()
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.poll()
            if code is not None:
                return f"{self.name} exited with code {code} during start-up"
            if should_abort is not None and should_abort.is_set():
                return "interrupted"
            if probe.ready(self.url):
                return None
            if time.monotonic() > deadline:
                return f"{self.name} did not answer {self.url}/api/health within {timeout_s:g} s (last: {probe.last})"
            time.sleep(interval_s)


def describe_exit(code: int) -> str:
    """``code 3`` or ``signal SIGKILL`` for a Popen return code."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
