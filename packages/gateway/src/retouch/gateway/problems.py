"""Problem+json answers sent straight from the gateway's ASGI layers."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Receive, Scope, Send

from retouch.runtime.problems import ProblemError, problem_response

__all__ = ["send_problem"]


async def send_problem(
    scope: Scope, receive: Receive, send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    """Answer the request in ``scope`` with a problem document (request id and path filled in)."""
    request_id = scope.get("state", {}).get("request_id")
    problem = ProblemError(status, detail).to_problem(request_id, scope.get("path"))
    await problem_response(problem, headers)(scope, receive, send)
