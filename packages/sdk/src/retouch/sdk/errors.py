"""Exceptions raised by the retouch clients: one class per HTTP status family, each carrying the
server's problem document."""

from __future__ import annotations

import httpx

from retouch.sdk.models.common import Problem

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ConflictError",
    "GatewayTimeoutError",
    "InternalServerError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetouchError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "error_for_status",
]


class RetouchError(Exception):
    """Base class of every error the SDK raises."""


class APIError(RetouchError):
    """A request to the retouch API did not produce a usable answer."""


class APIConnectionError(APIError):
    """The server could not be reached (refused, reset, DNS...)."""


class APITimeoutError(APIConnectionError):
    """The request did not finish within its ``timeout``."""


class APIResponseValidationError(APIError):
    """The server answered successfully, but the body (or a line or event of a stream) does not
    match the contract (version skew); ``response`` is the answer it came in, where known."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class APIStatusError(APIError):
    """The server answered with an error status; ``problem`` holds its problem document."""

    status_code: int = 0

    def __init__(self, problem: Problem, response: httpx.Response | None = None) -> None:
        self.problem = problem
        self.response = response
        self.status_code = problem.status
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")

    @property
    def detail(self) -> str:
        """The human-readable explanation from the server."""
        return self.problem.detail

    @property
    def request_id(self) -> str | None:
        """The request id the server logged this error under, for support requests."""
        if self.problem.request_id:
            return self.problem.request_id
        return self.response.headers.get("x-request-id") if self.response is not None else None


class BadRequestError(APIStatusError):
    """400: the request could not be parsed."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong API key (or service token)."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such route, task, image id or request id."""


class MethodNotAllowedError(APIStatusError):
    """405: the route exists but not with this method."""


class ConflictError(APIStatusError):
    """409: the resource is not in a state that allows this (e.g. result of an unfinished job)."""


class PayloadTooLargeError(APIStatusError):
    """413: the body, image or a count exceeded a configured limit."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but a field is invalid; see ``problem.errors``."""


class RateLimitError(APIStatusError):
    """429: too many requests for this key; retried automatically, honouring ``Retry-After``."""


class InternalServerError(APIStatusError):
    """500 (and other 5xx without a class of their own): the server failed."""


class BadGatewayError(APIStatusError):
    """502: a service behind the gateway answered with something unusable."""


class ServiceUnavailableError(APIStatusError):
    """503: a service is unreachable or not ready (e.g. still loading its model)."""


class GatewayTimeoutError(APIStatusError):
    """504: a service behind the gateway did not answer in time."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_for_status(problem: Problem, response: httpx.Response | None = None) -> APIStatusError:
    """The exception instance for ``problem.status`` (falls back to the 4xx/5xx family)."""
    cls = _BY_STATUS.get(problem.status)
    if cls is None:
        cls = (
            InternalServerError
            if problem.status >= 500
            else BadRequestError
            if problem.status == 400
            else APIStatusError
        )
    return cls(problem, response)
