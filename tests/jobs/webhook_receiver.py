"""A webhook receiver for the tests: records every POST it gets; can answer 503 to the first N."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    """One POST as it arrived, and what the receiver answered."""

    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """The receiver's state (shared with the test thread)."""

    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        """The POSTs answered 2xx."""
        with self.lock:
            return [item for item in self.received if item.answered < 300]

    def all(self) -> list[Received]:
        """Every POST."""
        with self.lock:
            return list(self.received)


def create_app(receiver: Receiver) -> Starlette:
    """``POST /hook`` records the delivery; answers 503 while ``fail_first`` deliveries remain."""

    async def hook(request: Request) -> Response:
        body = await request.body()
        with receiver.lock:
            answered = 503 if receiver.fail_first > 0 else 204
            receiver.fail_first -= 1
            receiver.received.append(Received(dict(request.headers), body, answered))
        return Response(status_code=answered)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


class PortServer:
    """Serves an app on a given loopback port from a thread (so a test can bring it up late)."""

    def __init__(self, app: Any, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
