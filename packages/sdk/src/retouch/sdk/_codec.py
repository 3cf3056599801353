"""The one place where retouch's JSON encoders and decoders are built.

Images travel as base64 strings. On the Python side they are :class:`Base64Bytes`, a ``bytes``
subclass, so a struct field typed ``Base64Bytes`` accepts plain base64 or a ``data:`` URL on input
and always writes plain base64 on output.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

__all__ = ["Base64Bytes", "decode", "decoder", "encode", "schema_hook"]


class Base64Bytes(bytes):
    """Binary data (usually an encoded image) carried in JSON as a base64 string."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Base64Bytes:
        """Decode base64 text, accepting a ``data:<type>;base64,`` prefix and line breaks."""
        if text.startswith("data:"):
            head, sep, text = text.partition(",")
            if not sep or not head.endswith(";base64"):
                raise ValueError("a data: URL must be base64 encoded")
        text = "".join(text.split())
        try:
            return cls(base64.b64decode(text, validate=True))
        except binascii.Error:
            raise ValueError("invalid base64 data") from None

    def b64(self) -> str:
        """The data as a plain base64 string."""
        return base64.b64encode(self).decode("ascii")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, Base64Bytes):
        return obj.b64()
    raise NotImplementedError(f"cannot encode objects of type {type(obj).__name__}")


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Base64Bytes:
        if isinstance(obj, str):
            return Base64Bytes.parse(obj)
        if isinstance(obj, bytes | bytearray):
            return Base64Bytes(obj)
        # A TypeError (not a ValidationError) makes msgspec add the field's path to the message.
        raise TypeError("expected a base64 string")
    raise NotImplementedError(f"cannot decode type {type_!r}")


def schema_hook(type_: type) -> dict[str, Any]:
    """JSON-schema for the custom types used by the contract (for OpenAPI generation)."""
    if type_ is Base64Bytes:
        return {
            "type": "string",
            "contentEncoding": "base64",
            "description": "base64 data; a data: URL prefix is accepted",
        }
    raise NotImplementedError


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(obj: Any) -> bytes:
    """Encode a struct (or any msgspec-supported value) to JSON bytes."""
    return _encoder.encode(obj)


@functools.cache
def decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    """The cached JSON decoder for ``type_`` (built once per type)."""
    return msgspec.json.Decoder(type_, dec_hook=_dec_hook)


def decode(data: bytes | str, type_: type[T]) -> T:
    """Decode JSON bytes into ``type_``, raising :class:`msgspec.ValidationError` on a mismatch."""
    result: T = decoder(type_).decode(data)  # type: ignore[arg-type]
    return result


def convert(obj: Any, type_: type[T]) -> T:
    """Convert already-parsed builtins (e.g. from a dict) into ``type_``."""
    result: T = msgspec.convert(obj, type_, dec_hook=_dec_hook)
    return result
