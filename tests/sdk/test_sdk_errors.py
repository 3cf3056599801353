"""One exception class per status, each carrying the problem document."""

from __future__ import annotations

import httpx
import pytest

from retouch.sdk import errors
from retouch.sdk._base import raise_for_problem
from retouch.sdk.models.common import FieldError, Problem


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (405, errors.MethodNotAllowedError),
        (409, errors.ConflictError),
        (413, errors.PayloadTooLargeError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.InternalServerError),
        (502, errors.BadGatewayError),
        (503, errors.ServiceUnavailableError),
        (504, errors.GatewayTimeoutError),
        (507, errors.InternalServerError),
        (418, errors.APIStatusError),
    ],
)
def test_class_per_status(status: int, cls: type[errors.APIStatusError]) -> None:
    problem = Problem(title="t", status=status, detail="why")
    error = errors.error_for_status(problem)
    assert type(error) is cls
    assert isinstance(error, errors.APIStatusError)
    assert isinstance(error, errors.RetouchError)
    assert error.status_code == status
    assert error.problem is problem
    assert error.detail == "why"
    assert str(error) == f"{status} t: why"


def test_connection_errors() -> None:
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.APIConnectionError, errors.APIError)
    assert not issubclass(errors.APIConnectionError, errors.APIStatusError)


def _response(
    status: int, content: bytes, content_type: str = "application/problem+json", **headers: str
) -> httpx.Response:
    return httpx.Response(
        status,
        content=content,
        headers={"content-type": content_type, **headers},
        request=httpx.Request("GET", "http://x/"),
    )


def test_problem_body_is_kept_with_field_errors() -> None:
    body = b'{"title":"Unprocessable Entity","status":422,"detail":"mask: wrong size","request_id":"r1","errors":[{"field":"mask","message":"wrong size"}]}'
    with pytest.raises(errors.UnprocessableEntityError) as info:
        raise_for_problem(_response(422, body))
    assert info.value.problem.errors == [FieldError(field="mask", message="wrong size")]
    assert info.value.request_id == "r1"


def test_request_id_falls_back_to_the_header() -> None:
    with pytest.raises(errors.NotFoundError) as info:
        raise_for_problem(
            _response(404, b'{"title":"Not Found","status":404,"detail":"no"}', **{"x-request-id": "hdr"})
        )
    assert info.value.request_id == "hdr"


def test_a_non_problem_body_still_gives_the_right_class() -> None:
    with pytest.raises(errors.BadGatewayError) as info:
        raise_for_problem(_response(502, b"<html>bad gateway</html>", "text/html"))
    assert info.value.problem.status == 502
    assert "bad gateway" in info.value.detail
    with pytest.raises(errors.ServiceUnavailableError) as empty:
        raise_for_problem(_response(503, b"", "text/plain"))
    assert empty.value.detail == "Service Unavailable"


def test_status_in_body_cannot_contradict_the_response() -> None:
    with pytest.raises(errors.ConflictError) as info:
        raise_for_problem(_response(409, b'{"title":"x","status":200,"detail":"d"}'))
    assert info.value.problem.status == 409


def test_success_does_not_raise() -> None:
    raise_for_problem(_response(200, b"{}", "application/json"))
    raise_for_problem(_response(304, b"", "text/plain"))
