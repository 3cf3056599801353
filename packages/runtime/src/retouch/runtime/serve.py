"""Run one service: ``python -m retouch.runtime.serve retouch.image_utils.app:create_app --port 8002``.

The target is an app factory taking no arguments (it reads its settings from the environment).
Connections are served by :class:`~retouch.runtime.protocol.GuardedH11Protocol`: a request head
must arrive within ``RETOUCH_HEADER_TIMEOUT`` seconds (default 10), and one client address may
hold at most ``RETOUCH_MAX_CONNECTIONS_PER_CLIENT`` connections (default: no cap).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from retouch.runtime.protocol import GuardedH11Protocol, ServerSettings
from retouch.runtime.settings import SettingsError, load_settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the app factory named on the command line with uvicorn."""
    parser = argparse.ArgumentParser(prog="python -m retouch.runtime.serve")
    parser.add_argument("factory", help="module:function returning an ASGI app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        server = load_settings(ServerSettings)
    except SettingsError as exc:
        parser.error(str(exc))
    GuardedH11Protocol.header_timeout_s = server.header_timeout_s
    GuardedH11Protocol.max_connections_per_client = server.max_connections_per_client
    uvicorn.run(
        args.factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        http=GuardedH11Protocol,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
