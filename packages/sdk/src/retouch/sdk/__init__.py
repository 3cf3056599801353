"""retouch-sdk: the typed contract and clients of the retouch image-editing API.

>>> from retouch.sdk import Client
>>> client = Client()  # RETOUCH_URL / RETOUCH_API_KEY, or http://127.0.0.1:8000
"""

from __future__ import annotations

from retouch.sdk.__about__ import __version__
from retouch.sdk._base import NOT_GIVEN
from retouch.sdk._client import AsyncClient, Client
from retouch.sdk._codec import Base64Bytes
from retouch.sdk._transport import RetryPolicy
from retouch.sdk.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ConflictError,
    GatewayTimeoutError,
    InternalServerError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetouchError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from retouch.sdk.resources.jobs import JobCancelledError, JobFailedError

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "Base64Bytes",
    "Client",
    "ConflictError",
    "GatewayTimeoutError",
    "InternalServerError",
    "JobCancelledError",
    "JobFailedError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetouchError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "__version__",
]
