"""``retouch health`` and ``retouch system-health``."""

from __future__ import annotations

import argparse
from typing import Any

from retouch.sdk._client import Client
from retouch.sdk.cli._common import print_struct

__all__ = ["register"]


def _health(client: Client, args: argparse.Namespace) -> int:
    report = client.health()
    print_struct(report)
    return 0 if report.status == "healthy" else 1


def _system_health(client: Client, args: argparse.Namespace) -> int:
    report = client.system_health()
    print_struct(report)
    return 0 if report.status == "healthy" else 1


def register(sub: Any) -> None:
    """Add the health commands."""
    sub.add_parser("health", help="health of the gateway").set_defaults(handler=_health)
    sub.add_parser("system-health", help="health of every service").set_defaults(handler=_system_health)
