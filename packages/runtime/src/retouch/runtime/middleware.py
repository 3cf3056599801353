"""Pure-ASGI middleware shared by every service (cheap on the hot path: no per-request objects
beyond what the checks need)."""

from __future__ import annotations

import hmac
import logging
import re
import uuid
from collections.abc import Collection, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retouch.runtime.logging import request_id_var
from retouch.runtime.problems import ProblemError, problem_response
from retouch.sdk.models.common import Problem

__all__ = ["SERVICE_TOKEN_HEADER", "BodyLimitMiddleware", "RequestContextMiddleware", "ServiceTokenMiddleware"]

log = logging.getLogger("retouch.runtime")

#: Header internal callers (the gateway, the jobs service) put the shared service token in.
SERVICE_TOKEN_HEADER = "x-service-token"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _send_problem(
    scope: Scope, receive: Receive, send: Send, problem: Problem, headers: dict[str, str] | None = None
) -> None:
    await problem_response(problem, headers)(scope, receive, send)


class RequestContextMiddleware:
    """Accepts or generates ``X-Request-ID``, echoes it, and turns any unexpected exception into a
    500 problem (logged with the request id; no traceback in the body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one call under its request id; an escaped exception becomes a 500 problem."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _header(scope, b"x-request-id")
        incoming = raw.decode("latin-1") if raw else ""
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode()
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", encoded))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                problem = Problem(
                    title="Internal Server Error",
                    status=500,
                    detail="The server failed to handle this request; quote the request id when reporting it.",
                    request_id=request_id,
                )
                await _send_problem(scope, receive, send_with_id, problem)
        finally:
            request_id_var.reset(token)


class ServiceTokenMiddleware:
    """Requires the shared service token on every path but ``open_paths`` (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str, open_paths: Collection[str] = ("/api/health",)) -> None:
        self.app = app
        self.token = token.encode()
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse (401) a call without the service token unless its path is open."""
        if scope["type"] != "http" or scope["path"] in self.open_paths or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        given = _header(scope, SERVICE_TOKEN_HEADER.encode()) or b""
        if not hmac.compare_digest(given, self.token):
            problem = ProblemError(401, "this internal service needs a valid service token (X-Service-Token)")
            await _send_problem(scope, receive, send, problem.to_problem(request_id_var.get()))
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413: at once when ``Content-Length`` says so, else as
    soon as the streamed body crosses the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_prefix: Mapping[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.variable = "RETOUCH_MAX_BODY_BYTES"
        # Path prefixes with a limit of their own and the variable naming it (asset uploads).
        self.per_prefix = dict(per_prefix or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call on, refusing (413) a body over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.per_prefix:
            path: str = scope.get("path", "")
            for prefix, (limit, variable) in self.per_prefix.items():
                if path == prefix or path.startswith(prefix + "/"):
                    await self._limited(scope, receive, send, limit, variable)
                    return
        await self._limited(scope, receive, send, self.max_bytes, self.variable)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, max_bytes: int, variable: str) -> None:
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await _send_problem(
                    scope, receive, send, ProblemError(400, "invalid Content-Length").to_problem(request_id_var.get())
                )
                return
            if declared > max_bytes:
                await self._too_large(scope, receive, send, max_bytes, variable)
                return
        received = 0
        limit = max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ProblemError(413, f"request body exceeds the limit of {limit} bytes ({variable})")
            return message

        await self.app(scope, counting_receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, max_bytes: int, variable: str) -> None:
        detail = f"request body exceeds the limit of {max_bytes} bytes ({variable})"
        await _send_problem(
            scope, receive, send, ProblemError(413, detail).to_problem(request_id_var.get()), {"connection": "close"}
        )
