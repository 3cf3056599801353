"""What the sync and async clients share: configuration, request building, error mapping."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx
import msgspec

from retouch.sdk import _codec
from retouch.sdk.__about__ import __version__
from retouch.sdk._transport import IDEMPOTENT_EXTENSION
from retouch.sdk.errors import APIConnectionError, APIResponseValidationError, APITimeoutError, error_for_status
from retouch.sdk.models.common import Problem

T = TypeVar("T")

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "NOT_GIVEN", "NotGiven", "RequestSpec", "Timeout"]

#: Where the clients point without ``base_url`` or ``RETOUCH_URL``: the local gateway.
DEFAULT_URL: Final = "http://127.0.0.1:8000"
#: Seconds a request may take unless the client or the call says otherwise.
DEFAULT_TIMEOUT: Final = 60.0


class NotGiven:
    """Sentinel for "use the client's default" (distinct from ``None``, which means no timeout)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: The default of every ``timeout=``: use the client's timeout.
NOT_GIVEN: Final = NotGiven()

#: A per-call timeout: seconds, an :class:`httpx.Timeout`, ``None`` for none, or the client default.
Timeout = float | httpx.Timeout | None | NotGiven


@dataclass
class RequestSpec:
    """One API call, described independently of sync or async sending."""

    method: str
    path: str
    body: Any = None
    cast: Any = None
    idempotent: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] | None = None


def resolve_config(base_url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """Explicit arguments win, then ``RETOUCH_URL`` / ``RETOUCH_API_KEY``, then the local default."""
    url = base_url or os.environ.get("RETOUCH_URL") or DEFAULT_URL
    key = api_key if api_key is not None else (os.environ.get("RETOUCH_API_KEY") or None)
    return url.rstrip("/"), key


def default_headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    """Headers sent on every request."""
    headers = {"User-Agent": f"retouch-sdk/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(extra or {})
    return headers


def build_request(http: httpx.Client | httpx.AsyncClient, spec: RequestSpec, timeout: Timeout) -> httpx.Request:
    """An :class:`httpx.Request` for ``spec`` (body encoded once, with the contract's encoder)."""
    headers = dict(spec.headers)
    content: bytes | None = None
    if spec.body is not None:
        content = spec.body if isinstance(spec.body, bytes) else _codec.encode(spec.body)
        headers.setdefault("Content-Type", "application/json")
    extensions: dict[str, Any] = {}
    if spec.idempotent:
        extensions[IDEMPOTENT_EXTENSION] = True
    request = http.build_request(
        spec.method,
        spec.path,
        content=content,
        headers=headers,
        params=spec.params,
        timeout=http.timeout if isinstance(timeout, NotGiven) else timeout,
        extensions=extensions,
    )
    return request


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the matching :mod:`retouch.sdk.errors` class if ``response`` is an error.

    The body must already be read.
    """
    if response.status_code < 400:
        return
    problem: Problem
    try:
        problem = _codec.decode(response.content, Problem)
    except (msgspec.ValidationError, msgspec.DecodeError):
        text = response.text.strip()[:500] or response.reason_phrase
        problem = Problem(title=response.reason_phrase or "Error", status=response.status_code, detail=text)
    if problem.status != response.status_code:
        problem = msgspec.structs.replace(problem, status=response.status_code)
    raise error_for_status(problem, response)


def parse_response(response: httpx.Response, cast: Any) -> Any:
    """Check ``response`` and decode its JSON body into ``cast`` (``None``: return raw bytes)."""
    raise_for_problem(response)
    if cast is None:
        return response.content
    what = f"{response.request.method} {response.request.url} answered {response.status_code} with a body that"
    return decode_body(response.content, cast, what, response)


def decode_body(data: str | bytes, cast: Any, what: str, response: httpx.Response | None = None) -> Any:
    """``data`` decoded into ``cast``; what does not fit the contract raises
    :class:`~retouch.sdk.errors.APIResponseValidationError` (``what`` says where it came from), so
    no msgspec error leaves the SDK."""
    try:
        return _codec.decode(data, cast)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        name = getattr(cast, "__name__", cast)
        raise APIResponseValidationError(f"{what} is not a valid {name}: {exc}", response) from exc


def translate_transport_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    """Map httpx's transport errors onto the SDK's two connection errors."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{request.method} {request.url} timed out: {exc}")
    return APIConnectionError(f"{request.method} {request.url} failed: {exc}")
