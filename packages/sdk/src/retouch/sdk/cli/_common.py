"""Helpers shared by the CLI's command modules."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec

from retouch.sdk import _codec
from retouch.sdk._client import Client

__all__ = ["add_output", "make_client", "print_struct", "run_command", "write_output"]

Handler = Callable[[Client, argparse.Namespace], int]


def make_client(args: argparse.Namespace) -> Client:
    """A :class:`Client` from the global options (falling back to the environment).

    ``RETOUCH_SERVICE_TOKEN``, when set, is sent as ``X-Service-Token``: operators can then point
    the CLI straight at an internal service (``--url http://127.0.0.1:8003``) instead of the gateway.
    """
    token = os.environ.get("RETOUCH_SERVICE_TOKEN")
    headers = {"X-Service-Token": token} if token else None
    return Client(args.url, api_key=args.api_key, timeout=args.timeout, headers=headers)


def run_command(args: argparse.Namespace) -> int:
    """Run the handler a subcommand set with ``set_defaults(handler=...)``."""
    handler: Handler = args.handler
    with make_client(args) as client:
        return handler(client, args)


def add_output(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The ``-o/--output`` option of commands that produce an image."""
    parser.add_argument("-o", "--output", type=Path, required=required, help="where to write the image")


def write_output(data: bytes, path: Path) -> None:
    """Write an image and say where it went (on stderr, so stdout stays machine-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes)", file=sys.stderr)


def print_struct(obj: msgspec.Struct) -> None:
    """Print a response as indented JSON on stdout."""
    print(msgspec.json.format(_codec.encode(obj), indent=2).decode())
