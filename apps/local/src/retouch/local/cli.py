"""``retouch-local``: the whole retouch stack on this machine.

``retouch-local serve`` starts every installed service and the gateway as separate processes on
loopback ports, prints their URLs, restarts a child that dies (with backoff; the others keep
running) and stops them all on Ctrl-C / SIGTERM.
``retouch-local models list | pull NAME | remove NAME`` manages the learned models the engines
pick up from the data directory (:mod:`retouch.local.models`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from retouch.local.__about__ import __version__
from retouch.local.services import GATEWAY, ServiceSpec, StackError, discover_services
from retouch.local.stack import ChildExited, Stack, StackInterrupted, StackSettings

__all__ = ["build_parser", "main"]

_PREFIX = "retouch-local:"


def _env_port(environ: Mapping[str, str]) -> int:
    raw = environ.get("RETOUCH_PORT", "").strip()
    if not raw:
        return 8000
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"RETOUCH_PORT={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise StackError(f"RETOUCH_PORT={raw!r} is out of range (0-65535)")
    return port


def _names(values: Sequence[str] | None) -> list[str]:
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The ``retouch-local`` argument parser."""
    parser = argparse.ArgumentParser(prog="retouch-local", description="Run the retouch stack on this machine.")
    parser.add_argument("--version", action="version", version=f"retouch-local {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="start the gateway and every installed service")
    serve.add_argument("--host", default="127.0.0.1", help="gateway bind address (non-loopback needs RETOUCH_API_KEYS)")
    serve.add_argument(
        "--port", type=int, default=None, help="gateway port (default $RETOUCH_PORT or 8000; 0 = any free)"
    )
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="data directory (default $RETOUCH_DATA_DIR or ./.retouch-data)"
    )
    serve.add_argument(
        "--only", action="append", metavar="NAME", help="run only these services (repeat or comma-separate)"
    )
    serve.add_argument("--without", action="append", metavar="NAME", help="do not run these services")
    serve.add_argument(
        "--service", action="append", default=[], metavar="NAME=MODULE:FUNCTION", help="add or replace a service"
    )
    serve.add_argument(
        "--gateway", default=GATEWAY.factory, metavar="MODULE:FUNCTION", help="the gateway's app factory"
    )
    serve.add_argument("--no-gateway", action="store_true", help="run the services only")
    serve.add_argument(
        "--log-format", choices=("prefix", "json"), default="prefix", help="how children's logs are shown"
    )
    serve.add_argument(
        "--startup-timeout",
        dest="startup_timeout_s",
        type=float,
        default=120.0,
        help="seconds each process may take to start",
    )
    serve.add_argument(
        "--no-restart",
        dest="restart",
        action="store_false",
        help="stop everything when a child dies, instead of restarting it",
    )
    serve.set_defaults(run=_serve)

    services = sub.add_parser("services", help="list the installed services")
    services.set_defaults(run=_list_services)

    models = sub.add_parser("models", help="list, pull or remove the learned models engines can use")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    data_dir_help = "data directory (default $RETOUCH_DATA_DIR or ./.retouch-data); models go to <data dir>/models"
    listing = models_sub.add_parser("list", help="the models you can pull, and which are installed")
    listing.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    listing.set_defaults(run=_models_list)
    pull = models_sub.add_parser("pull", help="download a model (resumable, checksum-verified)")
    pull.add_argument("name", help="the model (see `models list`)")
    pull.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    pull.add_argument("--retries", type=int, default=3, help="resume a broken download this often (default 3)")
    pull.add_argument("--no-progress", action="store_true", help="no progress bar")
    pull.set_defaults(run=_models_pull)
    remove = models_sub.add_parser("remove", help="delete an installed (or partly downloaded) model")
    remove.add_argument("name", help="the model")
    remove.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    remove.set_defaults(run=_models_remove)
    return parser


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> StackSettings:
    data_dir = args.data_dir or Path(environ.get("RETOUCH_DATA_DIR") or ".retouch-data")
    return StackSettings(
        host=args.host,
        port=args.port if args.port is not None else _env_port(environ),
        data_dir=data_dir,
        only=_names(args.only),
        without=_names(args.without),
        extra_services=[ServiceSpec.parse(text) for text in args.service],
        gateway=None if args.no_gateway else ServiceSpec("gateway", args.gateway),
        startup_timeout_s=args.startup_timeout_s,
        log_stream=sys.stdout,
        log_format=args.log_format,
        restart=args.restart,
        on_notice=_notice,
    )


def _notice(message: str) -> None:
    print(f"{_PREFIX} {message}", file=sys.stderr, flush=True)


def _print_ready(stack: Stack) -> None:
    lines = [f"{_PREFIX} the stack is up (data in {stack.data_dir})"]
    rows: list[tuple[str, str, str]] = []
    if "gateway" in stack.processes:
        gateway = stack.processes["gateway"]
        rows.append(("gateway", gateway.url, f"pid {gateway.pid}"))
        if stack.web_url:
            rows.append(("web editor", stack.web_url, ""))
        rows.append(("api docs", f"{gateway.url}/api/openapi.json", ""))
    for name, proc in stack.processes.items():
        if name != "gateway":
            rows.append((name, proc.url, f"pid {proc.pid}"))
    lines.extend(f"  {label:<13}{url:<34}{extra}".rstrip() for label, url, extra in rows)
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _serve(args: argparse.Namespace) -> int:
    stack = Stack(_settings(args, os.environ))
    for spec in stack.skipped:
        print(f"{_PREFIX} skipping {spec.name}: {spec.module} is not installed", file=sys.stderr)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stack.request_stop(signal.Signals(signum).name)

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        try:
            stack.start()
        except StackInterrupted:
            print(f"{_PREFIX} interrupted during start-up; stopped", file=sys.stderr)
            return 0
        _print_ready(stack)
        try:
            stack.wait()
        except ChildExited as exc:
            print(f"{_PREFIX} {exc}; stopping everything", file=sys.stderr, flush=True)
            return 1
        print(f"{_PREFIX} {stack.stop_reason}: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _list_services(args: argparse.Namespace) -> int:
    for spec in discover_services():
        state = "" if spec.importable() else "  (module missing)"
        print(f"{spec.name:<14}{spec.factory}{state}")
    return 0


def _models_dir(args: argparse.Namespace) -> Path:
    from retouch.local.models import models_dir

    return models_dir(args.data_dir or Path(os.environ.get("RETOUCH_DATA_DIR") or ".retouch-data"))


def _size(count: int | None) -> str:
    if count is None:
        return "?"
    return f"{count / 1_000_000:.0f} MB" if count >= 1_000_000 else f"{count / 1000:.0f} kB"


def _models_list(args: argparse.Namespace) -> int:
    from retouch.local.models import DownloadError, catalog, partial_size
    from retouch.runtime.models import read_manifest

    try:
        specs = catalog()
    except DownloadError as exc:
        print(f"{_PREFIX} {exc}", file=sys.stderr)
        return 2
    directory = _models_dir(args)
    print(f"models in {directory}")
    print(f"  {'NAME':<12}{'ENGINE':<12}{'SIZE':>8}  {'STATE':<14}DESCRIPTION")
    for spec in specs.values():
        folder = directory / spec.name
        installed = read_manifest(folder)
        if installed is not None:
            state = "installed" if installed.sha256 == spec.sha256 else "other version"
        elif partial := partial_size(folder, spec):
            state = f"partial {partial * 100 // spec.size}%" if spec.size else "partial"
        else:
            state = "-"
        print(f"  {spec.name:<12}{spec.engine:<12}{_size(spec.size):>8}  {state:<14}{spec.description}")
    return 0


class _Bar:
    """A tqdm progress bar on stderr, made on the first report (so a resume starts where it was)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None or done < self.done:
            self.close()
            self.bar = tqdm(
                total=total,
                initial=done,
                desc=self.label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
            )
        else:
            self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _models_pull(args: argparse.Namespace) -> int:
    from retouch.local.models import DownloadError, DownloadInterrupted, catalog, pull

    try:
        specs = catalog()
    except DownloadError as exc:
        print(f"{_PREFIX} {exc}", file=sys.stderr)
        return 2
    spec = specs.get(args.name)
    if spec is None:
        print(f"{_PREFIX} no model called {args.name!r}; models are {', '.join(specs)}", file=sys.stderr)
        return 2
    directory = _models_dir(args)
    bar = None if args.no_progress else _Bar(spec.name)
    try:
        installed = pull(spec, directory, progress=bar, retries=max(0, args.retries))
    except DownloadInterrupted as exc:
        print(f"{_PREFIX} {exc}; run the same command again to resume", file=sys.stderr)
        return 1
    except (DownloadError, OSError) as exc:
        print(f"{_PREFIX} {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    print(f"{spec.name}: installed {installed.path} (sha256 {installed.sha256} verified)")
    print(f"the {spec.service} service uses it as the {spec.engine} engine from its next start (`hatch run serve`)")
    modules, extra = _ENGINE_LIBRARIES.get(spec.service, ((), ""))
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"note: the {spec.engine} engine needs {', '.join(missing)}, not installed here: install {extra} "
            "(or serve with `hatch run full:serve`, an environment that has it)"
        )
    return 0


#: What a service's model engines import, and the extra that installs it.
_ENGINE_LIBRARIES = {
    "generation": (("torch",), "retouch-generation[lama]"),
    "segmentation": (("torch", "ultralytics"), "retouch-segmentation[fastsam]"),
}


def _models_remove(args: argparse.Namespace) -> int:
    from retouch.local.models import remove

    directory = _models_dir(args)
    try:
        removed = remove(args.name, directory)
    except ValueError as exc:
        print(f"{_PREFIX} {exc}", file=sys.stderr)
        return 2
    if not removed:
        print(f"{_PREFIX} {args.name} is not installed in {directory}", file=sys.stderr)
        return 1
    print(f"{args.name}: removed from {directory}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``retouch-local`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except StackError as exc:
        print(f"{_PREFIX} {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
