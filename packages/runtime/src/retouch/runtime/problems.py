"""Errors as RFC 9457 problem documents: raise :class:`ProblemError` anywhere in a handler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus

import msgspec
from starlette.responses import Response

from retouch.sdk import codec
from retouch.sdk.models.common import FieldError, Problem

__all__ = ["PROBLEM_CONTENT_TYPE", "ProblemError", "field_error", "from_validation_error", "problem_response"]

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemError(Exception):
    """An error that becomes a problem+json response with ``status``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        type: str = "about:blank",
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.type = type

    def to_problem(self, request_id: str | None = None, instance: str | None = None) -> Problem:
        """The problem document for this error."""
        return Problem(
            type=self.type,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            request_id=request_id,
            errors=self.errors,
        )


def field_error(field: str, message: str, status: int = 422) -> ProblemError:
    """A validation error on one field: ``detail`` names it, ``errors`` carries it."""
    return ProblemError(status, f"{field}: {message}", errors=[FieldError(field=field, message=message)])


def from_validation_error(exc: msgspec.ValidationError) -> ProblemError:
    """Turn msgspec's ``"Expected `int`, got `str` - at `$.steps`"`` into a 422 naming the field."""
    message = str(exc)
    field = "$"
    if " - at `" in message:
        message, _, rest = message.rpartition(" - at `")
        field = rest.rstrip("`")
    return field_error(field.removeprefix("$.") if field != "$" else "body", message)


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    """A Starlette response carrying ``problem``."""
    return Response(
        codec.encode(problem), status_code=problem.status, media_type=PROBLEM_CONTENT_TYPE, headers=dict(headers or {})
    )
