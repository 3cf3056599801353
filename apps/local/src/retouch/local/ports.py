"""Loopback port allocation and the host checks ``retouch-local`` applies before binding."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

__all__ = ["connect_host", "free_ports", "is_loopback", "port_in_use"]

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def connect_host(host: str) -> str:
    """The address a local client uses to reach a server bound to ``host``."""
    if host in _WILDCARDS:
        return "127.0.0.1"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free on ``host`` right now.

    Every socket stays bound until all ports are chosen, so the kernel cannot hand out one port
    twice; the children bind them a moment later (with ``SO_REUSEADDR``, as uvicorn does).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(_family(host), socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host.strip("[]"), 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether a server could not bind ``host:port`` now (someone listens on it)."""
    with contextlib.closing(socket.socket(_family(host), socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False
