"""Request decoding and response encoding with the contract's shared codec."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from retouch.runtime.problems import ProblemError, from_validation_error
from retouch.sdk import codec

__all__ = ["StructResponse", "decode_struct", "read_struct"]

T = TypeVar("T")


def decode_struct(body: bytes, type_: type[T]) -> T:
    """Decode a JSON body into ``type_``; 400 for broken JSON, 422 naming the bad field (or saying
    the JSON is nested too deeply)."""
    if not body.strip():
        raise ProblemError(422, "body: a JSON object is required")
    try:
        return codec.decode(body, type_)
    except msgspec.ValidationError as exc:
        raise from_validation_error(exc) from None
    except msgspec.DecodeError as exc:
        raise ProblemError(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        # A small body of nested brackets (even inside a field that is ignored) exhausts the
        # decoder's depth; no request of the contract nests more than a few levels.
        raise ProblemError(422, "body: JSON is nested too deeply (arrays or objects inside each other)") from None


async def read_struct(request: Request, type_: type[T]) -> T:
    """Read the request body and decode it as ``type_`` (see :func:`decode_struct`)."""
    return decode_struct(await request.body(), type_)


class StructResponse(Response):
    """A JSON response rendered from a msgspec Struct with the shared encoder."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """The Struct encoded as JSON with the contract's encoder."""
        return codec.encode(content)
