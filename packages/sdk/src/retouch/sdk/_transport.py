"""Retries live here, in the transport, so every call of both clients gets the same policy.

A request is retried only when it is safe to send again: an idempotent method, a request carrying
an ``Idempotency-Key``, or one the SDK marked idempotent (pure operations such as image-utils).
Retried failures: connection errors and 429/502/503/504, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass

import httpx

__all__ = ["IDEMPOTENT_EXTENSION", "AsyncRetryTransport", "RetryPolicy", "RetryTransport"]

#: Set ``request.extensions[IDEMPOTENT_EXTENSION] = True`` to mark a POST as safe to retry.
IDEMPOTENT_EXTENSION = "retouch_idempotent"
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A read timeout is retried too (for requests that are safe to repeat): a restarted or overloaded
# upstream often answers the second attempt.
_RETRY_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.ReadTimeout,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait: ``backoff * 2**attempt``, capped, with jitter."""

    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    #: A ``Retry-After`` longer than this is not waited for: the error goes to the caller.
    max_retry_after: float = 60.0

    def should_retry(self, request: httpx.Request) -> bool:
        """Whether ``request`` may be sent more than once."""
        return (
            request.method in _IDEMPOTENT_METHODS
            or "idempotency-key" in request.headers
            or bool(request.extensions.get(IDEMPOTENT_EXTENSION))
        )

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; ``None`` means give up."""
        if response is not None:
            retry_after = _parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                return retry_after if retry_after <= self.max_retry_after else None
        base: float = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryTransport(httpx.BaseTransport):
    """Wraps a sync transport with :class:`RetryPolicy`."""

    def __init__(self, wrapped: httpx.BaseTransport | None = None, policy: RetryPolicy | None = None) -> None:
        self._wrapped = wrapped or httpx.HTTPTransport()
        self.policy = policy or RetryPolicy()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, retrying it as the policy allows; the last response or error wins."""
        retryable = self.policy.should_retry(request)
        attempt = 0
        while True:
            try:
                response = self._wrapped.handle_request(request)
            except _RETRY_ERRORS:
                wait = self.policy.delay(attempt, None) if retryable and attempt < self.policy.max_retries else None
                if wait is None:
                    raise
            else:
                if response.status_code not in _RETRY_STATUSES or not retryable or attempt >= self.policy.max_retries:
                    return response
                wait = self.policy.delay(attempt, response)
                if wait is None:
                    return response
                response.close()
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        """Close the wrapped transport."""
        self._wrapped.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """Wraps an async transport with :class:`RetryPolicy`."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport | None = None, policy: RetryPolicy | None = None) -> None:
        self._wrapped = wrapped or httpx.AsyncHTTPTransport()
        self.policy = policy or RetryPolicy()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, retrying it as the policy allows; the last response or error wins."""
        retryable = self.policy.should_retry(request)
        attempt = 0
        while True:
            try:
                response = await self._wrapped.handle_async_request(request)
            except _RETRY_ERRORS:
                wait = self.policy.delay(attempt, None) if retryable and attempt < self.policy.max_retries else None
                if wait is None:
                    raise
            else:
                if response.status_code not in _RETRY_STATUSES or not retryable or attempt >= self.policy.max_retries:
                    return response
                wait = self.policy.delay(attempt, response)
                if wait is None:
                    return response
                await response.aclose()
            await asyncio.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._wrapped.aclose()
