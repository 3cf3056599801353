"""The whole stack as one object: ``with Stack(StackSettings(port=0)) as stack: stack.gateway_url``."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from retouch.local.ports import free_ports, is_loopback, port_in_use
from retouch.local.services import GATEWAY, ServiceSpec, StackError, discover_services, select_services, url_var
from retouch.local.supervisor import LogFormat, LogSink, ManagedProcess, describe_exit
from retouch.runtime.concurrency import start_thread
from retouch.runtime.protocol import MAX_CONNECTIONS_VAR
from retouch.runtime.settings import new_token

__all__ = ["ChildExited", "Stack", "StackInterrupted", "StackSettings", "build_env", "default_web_dir"]

#: Engines the local stack runs unless the environment names others: each service picks the best
#: engine whose model is installed (``retouch-local models pull``), else its CPU engine without
#: weights (classic, GrabCut).
ENGINE_DEFAULTS = {"RETOUCH_GENERATION_ENGINE": "auto", "RETOUCH_SEGMENTATION_ENGINE": "auto"}
SERVICE_HOST = "127.0.0.1"
#: Connections one client address may hold to the gateway at once.
GATEWAY_CONNECTIONS_PER_CLIENT = 256


def default_web_dir() -> Path | None:
    """The repository's ``apps/web`` next to this package's source, when this is a checkout."""
    # apps/local/src/retouch/local/stack.py -> parents[4] is apps/
    web = Path(__file__).resolve().parents[4] / "web"
    return web if web.is_dir() else None


class ChildExited(StackError):
    """A process of the stack exited while it should have been running."""

    def __init__(self, name: str, returncode: int, tail: Sequence[str] = ()) -> None:
        self.name = name
        self.returncode = returncode
        self.tail = list(tail)
        super().__init__(f"{name} exited unexpectedly with {describe_exit(returncode)}")


@dataclass
class StackSettings:
    """How to run the stack. ``None`` fields fall back to the environment or a default."""

    #: Where the gateway binds; a non-loopback host needs API keys.
    host: str = "127.0.0.1"
    #: The gateway's port; 0 picks a free one.
    port: int = 8000
    #: Root of every service's data (``<data_dir>/<service>``).
    data_dir: Path | str = Path(".retouch-data")
    #: The services to run; ``None`` discovers the installed ones.
    services: Sequence[ServiceSpec] | None = None
    #: Added to (or replacing) the discovered services.
    extra_services: Sequence[ServiceSpec] = ()
    only: Collection[str] = ()
    without: Collection[str] = ()
    #: ``None`` runs no gateway (services only).
    gateway: ServiceSpec | None = GATEWAY
    #: ``RETOUCH_API_KEYS`` for the gateway; ``None`` keeps the environment's.
    api_keys: str | None = None
    #: The shared service token; ``None`` generates one for this run.
    service_token: str | None = None
    #: The editor's static files; ``None`` finds ``apps/web`` in this checkout.
    web_dir: Path | None = None
    #: Variables set for every child (on top of ``base_env``).
    env: Mapping[str, str] = field(default_factory=dict)
    #: The environment children inherit; ``None`` is ``os.environ``.
    base_env: Mapping[str, str] | None = None
    #: Seconds each process may take to answer its health check.
    startup_timeout_s: float = 120.0
    #: Seconds between SIGTERM and SIGKILL when stopping.
    stop_timeout_s: float = 10.0
    #: Where children's output goes (``None``: kept only as a short tail per process).
    log_stream: IO[str] | None = None
    log_format: LogFormat = "prefix"
    #: The children's working directory.
    cwd: Path | None = None
    #: Restart a child that exits on its own (after ``restart_delay_s``, doubling per quick death up
    #: to ``restart_max_delay_s``) instead of reporting it; the others keep running meanwhile.
    restart: bool = False
    restart_delay_s: float = 0.5
    restart_max_delay_s: float = 30.0
    #: A child that stayed up this long has its restart delay reset to ``restart_delay_s``.
    restart_stable_after_s: float = 60.0
    #: Receives the supervisor's notices (a child died, was restarted); ``None`` drops them.
    on_notice: Callable[[str], None] | None = None

    def environ(self) -> dict[str, str]:
        """The environment children start from."""
        env = dict(os.environ if self.base_env is None else self.base_env)
        env.update(self.env)
        return env

    def effective_api_keys(self) -> str:
        """The API keys the gateway will enforce (empty: none)."""
        return self.api_keys if self.api_keys is not None else self.environ().get("RETOUCH_API_KEYS", "")

    def validate(self) -> None:
        """Refuse settings that cannot work or are unsafe (a public bind without API keys)."""
        if not 0 <= self.port <= 65535:
            raise StackError(f"port {self.port} is out of range (RETOUCH_PORT / --port)")
        if not 0 < self.restart_delay_s <= self.restart_max_delay_s:
            raise StackError("restart_delay_s must be positive and at most restart_max_delay_s")
        if self.gateway is not None and not is_loopback(self.host) and not self.effective_api_keys().strip():
            raise StackError(
                f"refusing to bind {self.host}: without API keys the gateway must stay on 127.0.0.1; "
                "set RETOUCH_API_KEYS (comma-separated keys) or use --host 127.0.0.1"
            )


def build_env(
    settings: StackSettings,
    spec: ServiceSpec,
    *,
    urls: Mapping[str, str],
    token: str,
    data_dir: Path,
    web_dir: Path | None,
) -> dict[str, str]:
    """The environment of ``spec``'s process: every service URL, the shared token, its own data
    directory, engine defaults and, for the gateway, API keys and the web editor."""
    env = settings.environ()
    for name, url in urls.items():
        env[url_var(name)] = url
    env["RETOUCH_SERVICE_TOKEN"] = token
    if "job_manager" in urls:
        # Every service reads ``asset:<id>`` references from the jobs service, which holds them.
        env.setdefault("RETOUCH_ASSETS_URL", urls["job_manager"])
    env["RETOUCH_DATA_DIR"] = str(data_dir / spec.name)
    # One models directory for every service: where `retouch-local models pull` installs them.
    env.setdefault("RETOUCH_MODELS_DIR", str(data_dir / "models"))
    for var, value in ENGINE_DEFAULTS.items():
        env.setdefault(var, value)
    # Readable text in a terminal; JSON lines when the stack's own output is JSON.
    env.setdefault("RETOUCH_LOG_JSON", "true" if settings.log_format == "json" else "false")
    env["PYTHONUNBUFFERED"] = "1"
    if spec.name != "gateway":
        # Never for the services: the gateway's pool is one address with many connections.
        env.pop(MAX_CONNECTIONS_VAR, None)
    if spec.name == "gateway":
        # The public entry point: one client address may not take every socket it has.
        env.setdefault(MAX_CONNECTIONS_VAR, str(GATEWAY_CONNECTIONS_PER_CLIENT))
        if settings.api_keys is not None:
            env["RETOUCH_API_KEYS"] = settings.api_keys
        if web_dir is not None:
            env.setdefault("RETOUCH_WEB_DIR", str(web_dir))
    return env


class Stack:
    """The gateway and every selected service, each its own process on a loopback port.

    ``start()`` returns once every health check answers; ``stop()`` ends them all. Use
    ``processes[name]`` (or :meth:`kill` / :meth:`restart`) to act on one service.
    """

    def __init__(self, settings: StackSettings | None = None, **overrides: Any) -> None:
        base = settings or StackSettings()
        self.settings = dataclasses.replace(base, **overrides) if overrides else base
        self.settings.validate()
        self.token = self.settings.service_token or new_token()
        self.data_dir = Path(self.settings.data_dir).expanduser().resolve()
        self.web_dir = self.settings.web_dir or default_web_dir()
        available = list(self.settings.services) if self.settings.services is not None else discover_services()
        #: Installed entry points whose module is missing (a partial install): not started.
        self.skipped: list[ServiceSpec] = []
        if self.settings.services is None:
            self.skipped = [spec for spec in available if not spec.importable()]
            available = [spec for spec in available if spec not in self.skipped]
        self.services: list[ServiceSpec] = select_services(
            available,
            only=self.settings.only,
            without=self.settings.without,
            extra=self.settings.extra_services,
        )
        self.processes: dict[str, ManagedProcess] = {}
        self._sink = LogSink(self.settings.log_stream, self.settings.log_format)
        self._stop_requested = threading.Event()
        self.stop_reason: str | None = None
        # Held while a child is started, stopped or restarted, so the supervisor and a caller's
        # kill()/restart() never act on the same process at once.
        self._lock = threading.RLock()
        self._restarts: dict[str, _Restart] = {}
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- addresses ----------------------------------------------------------------------------
    @property
    def urls(self) -> dict[str, str]:
        """Every process's URL by name (the gateway's included)."""
        return {name: proc.url for name, proc in self.processes.items()}

    @property
    def service_urls(self) -> dict[str, str]:
        """The internal services' URLs by name."""
        return {name: proc.url for name, proc in self.processes.items() if name != "gateway"}

    @property
    def gateway_url(self) -> str:
        """The public entry point."""
        if "gateway" not in self.processes:
            raise StackError("this stack runs no gateway")
        return self.processes["gateway"].url

    @property
    def web_url(self) -> str | None:
        """The web editor (served by the gateway), when the stack has one."""
        return f"{self.gateway_url}/" if "gateway" in self.processes and self.web_dir is not None else None

    # -- life cycle ---------------------------------------------------------------------------
    def _plan(self) -> None:
        settings = self.settings
        gateway = settings.gateway
        wanted = len(self.services) + (1 if gateway is not None and settings.port == 0 else 0)
        ports = free_ports(wanted, SERVICE_HOST)
        urls = {spec.name: f"http://{SERVICE_HOST}:{port}" for spec, port in zip(self.services, ports, strict=False)}
        layout: list[tuple[ServiceSpec, str, int]] = [
            (spec, SERVICE_HOST, port) for spec, port in zip(self.services, ports, strict=False)
        ]
        if gateway is not None:
            gateway_port = settings.port or ports[-1]
            if settings.port and port_in_use(settings.host, gateway_port):
                raise StackError(
                    f"port {gateway_port} on {settings.host} is in use; choose another with --port or RETOUCH_PORT"
                )
            layout.append((gateway, settings.host, gateway_port))
        for spec, host, port in layout:
            env = build_env(settings, spec, urls=urls, token=self.token, data_dir=self.data_dir, web_dir=self.web_dir)
            self.processes[spec.name] = ManagedProcess(
                spec, host=host, port=port, env=env, sink=self._sink, cwd=settings.cwd
            )

    def start(self) -> Stack:
        """Start the services, wait until each answers, then the gateway; returns ``self``.

        Raises :class:`StackError` (everything already started is stopped) if a process exits
        or does not answer in time.
        """
        if self.processes:
            raise StackError("this stack was already started")
        self._plan()
        for spec in self.services:
            (self.data_dir / spec.name).mkdir(parents=True, exist_ok=True)
        try:
            services = [proc for name, proc in self.processes.items() if name != "gateway"]
            for proc in services:
                proc.start()
            for proc in services:
                self._await_ready(proc)
            if "gateway" in self.processes:
                (self.data_dir / "gateway").mkdir(parents=True, exist_ok=True)
                self.processes["gateway"].start()
                self._await_ready(self.processes["gateway"])
        except BaseException:
            self.stop()
            raise
        return self

    def _await_ready(self, proc: ManagedProcess) -> None:
        problem = proc.wait_ready(self.settings.startup_timeout_s, self._stop_requested)
        if problem is None:
            return
        if problem == "interrupted":
            raise StackInterrupted(self.stop_reason or "stop requested")
        tail = "\n".join(f"  {line}" for line in proc.tail()[-15:])
        raise StackError(f"{problem}" + (f"; its last output:\n{tail}" if tail else ""))

    def stop(self) -> None:
        """Stop every process (the gateway first), SIGKILL after ``stop_timeout_s``."""
        self._stopping.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=self.settings.stop_timeout_s)
        with self._lock:
            ordered = sorted(self.processes.values(), key=lambda p: p.name != "gateway")
            for proc in ordered:
                proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.settings.stop_timeout_s
            for proc in ordered:
                if proc.wait(max(0.0, deadline - time.monotonic())) is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(5)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Make :meth:`wait` (or a ``start`` in progress) return; safe from a signal handler."""
        self.stop_reason = reason
        self._stop_requested.set()

    def check(self) -> None:
        """Raise :class:`ChildExited` if a process exited without being told to."""
        for proc in self.processes.values():
            code = proc.poll()
            if code is not None and not proc.expected_exit and not self._stop_requested.is_set():
                raise ChildExited(proc.name, code, proc.tail())

    def wait(self, interval_s: float = 0.2) -> None:
        """Block until :meth:`request_stop`. A process that dies meanwhile is restarted (with
        ``settings.restart``) or reported by raising :class:`ChildExited`."""
        while not self._stop_requested.is_set():
            self.supervise()
            self._stop_requested.wait(interval_s)

    def supervise(self) -> None:
        """One look at every process: without ``settings.restart`` this is :meth:`check`; with it,
        a process that exited on its own is started again once its restart delay has passed (the
        others are not touched, so the gateway reports it down meanwhile)."""
        if not self.settings.restart:
            self.check()
            return
        on_supervisor = threading.current_thread() is self._supervisor
        with self._lock:
            for proc in self.processes.values():
                if self._stop_requested.is_set() or self._stopping.is_set():
                    return
                self._supervise_one(proc, long_lived_thread=on_supervisor)

    def _supervise_one(self, proc: ManagedProcess, *, long_lived_thread: bool) -> None:
        settings = self.settings
        state = self._restarts.setdefault(proc.name, _Restart())
        now = time.monotonic()
        code = proc.poll()
        if code is None:
            if state.failures and now - proc.started_at >= settings.restart_stable_after_s:
                state.failures = 0
            return
        if proc.expected_exit or proc.popen is None:
            return
        if state.due is None:
            delay = min(settings.restart_max_delay_s, settings.restart_delay_s * 2**state.failures)
            state.failures += 1
            state.due = now + delay
            state.restarts += 1
            self._notice(f"{proc.name} exited unexpectedly with {describe_exit(code)}; restarting it in {delay:g} s")
            return
        if now < state.due:
            return
        state.due = None
        proc.start(long_lived_thread=long_lived_thread)
        self._notice(f"restarted {proc.name} (pid {proc.pid})")

    def restarts(self, name: str) -> int:
        """How many times the supervisor has restarted (or is about to restart) ``name``."""
        state = self._restarts.get(name)
        return 0 if state is None else state.restarts

    def supervise_in_background(self, interval_s: float = 0.1) -> None:
        """Run :meth:`supervise` on a thread of its own until :meth:`stop` (for programs, like
        tests, that do not sit in :meth:`wait`); needs ``settings.restart``."""
        if not self.settings.restart:
            raise StackError("supervise_in_background needs StackSettings(restart=True)")
        if self._supervisor is not None:
            return

        def loop() -> None:
            while not self._stopping.wait(interval_s):
                self.supervise()

        self._supervisor = start_thread(loop, name="retouch-local-supervisor")

    def _notice(self, message: str) -> None:
        if self.settings.on_notice is not None:
            self.settings.on_notice(message)

    # -- one service --------------------------------------------------------------------------
    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` to one process and wait for it to exit; returns its exit code."""
        proc = self._process(name)
        with self._lock:
            proc.send_signal(sig)
            return proc.wait(self.settings.stop_timeout_s)

    def restart(self, name: str) -> ManagedProcess:
        """Stop one process (if running) and start it again on the same port; waits until ready."""
        proc = self._process(name)
        with self._lock:
            if proc.alive:
                proc.stop(self.settings.stop_timeout_s)
            proc.start()
            self._restarts.pop(name, None)
        self._await_ready(proc)
        return proc

    def _process(self, name: str) -> ManagedProcess:
        try:
            return self.processes[name]
        except KeyError:
            raise StackError(f"no process {name!r} in this stack ({', '.join(self.processes)})") from None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class _Restart:
    """The supervisor's bookkeeping for one process."""

    #: Quick deaths in a row (each doubles the next delay).
    failures: int = 0
    restarts: int = 0
    #: ``time.monotonic()`` when the pending restart is due; ``None`` when none is pending.
    due: float | None = None


class StackInterrupted(StackError):
    """:meth:`Stack.request_stop` was called while the stack was starting."""
