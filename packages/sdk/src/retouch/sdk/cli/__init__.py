"""The ``retouch`` command line: ``retouch health``, ``retouch extract-object ...`` and friends.

Reads ``RETOUCH_URL`` and ``RETOUCH_API_KEY`` (or ``--url`` / ``--api-key``). Each service's
commands live in their own module and register themselves through ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from retouch.sdk.__about__ import __version__
from retouch.sdk.cli._common import run_command
from retouch.sdk.errors import RetouchError

__all__ = ["build_parser", "main"]

#: Modules that add subcommands (each defines ``register(subparsers)``).
COMMAND_MODULES = ("health", "image_utils", "segmentation", "generation", "jobs", "batch", "assets")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="retouch", description="Command line client of the retouch API.")
    parser.add_argument("--version", action="version", version=f"retouch-sdk {__version__}")
    parser.add_argument("--url", help="gateway URL (default: $RETOUCH_URL or http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="API key (default: $RETOUCH_API_KEY)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"retouch.sdk.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``retouch`` script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except RetouchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        # A picture that cannot be read, or a bad --info file: the user's input, not a bug to trace.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
