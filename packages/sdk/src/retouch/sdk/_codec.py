"""The one place where retouch's JSON encoders and decoders are built.

Images travel as base64 strings. On the Python side they are :class:`Base64Bytes`, a ``bytes``
subclass, so a struct field typed ``Base64Bytes`` accepts plain base64 or a ``data:`` URL on input
and always writes plain base64 on output.

Where an image is expected, ``"asset:<id>"`` names a picture uploaded once to ``/api/assets``: it
decodes to an :class:`AssetRef` (a ``Base64Bytes`` whose bytes are that text, so it survives every
re-encoding between services) and is resolved to the picture's bytes by the service that decodes
it (``retouch.runtime.assets``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any, Final, TypeVar

import msgspec

T = TypeVar("T")

__all__ = [
    "ASSET_ID_PATTERN",
    "ASSET_PREFIX",
    "AssetRef",
    "Base64Bytes",
    "asset_id_of",
    "decode",
    "decoder",
    "encode",
    "schema_hook",
]

#: How an image field refers to an uploaded asset: ``"asset:<asset_id>"``.
ASSET_PREFIX: Final = "asset:"
#: An asset id: the first 32 hex digits of the SHA-256 of the picture's bytes.
ASSET_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
_ASSET_ID = re.compile(ASSET_ID_PATTERN)


class Base64Bytes(bytes):
    """Binary data (usually an encoded image) carried in JSON as a base64 string."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Base64Bytes:
        """Decode base64 text, accepting a ``data:<type>;base64,`` prefix and line breaks."""
        if text.startswith(ASSET_PREFIX):
            return AssetRef.of(text[len(ASSET_PREFIX) :])
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


class AssetRef(Base64Bytes):
    """A reference ``asset:<id>`` to an uploaded picture, in place of its bytes.

    Its bytes are the reference text itself (no image format starts with ``asset:``), so it stays
    a reference through ``bytes(...)`` copies and JSON round trips; the decoding service resolves
    it (``retouch.runtime.assets.resolve``).
    """

    __slots__ = ()

    @classmethod
    def of(cls, asset_id: str) -> AssetRef:
        """The reference to ``asset_id`` (``ValueError`` unless it is 32 lowercase hex digits)."""
        if not _ASSET_ID.match(asset_id):
            raise ValueError(f"an asset id is 32 lowercase hex digits, got {asset_id[:80]!r}")
        return cls((ASSET_PREFIX + asset_id).encode("ascii"))

    @property
    def asset_id(self) -> str:
        """The id of the referenced asset."""
        return self[len(ASSET_PREFIX) :].decode("ascii")

    def b64(self) -> str:
        """The reference as it travels in JSON: ``asset:<id>`` (not base64)."""
        return self.decode("ascii")


def asset_id_of(data: bytes) -> str | None:
    """The asset id if ``data`` is an ``asset:<id>`` reference (an :class:`AssetRef`, or its bytes
    after a copy), else ``None``."""
    if not data.startswith(b"asset:"):
        return None
    text = bytes(data[len(ASSET_PREFIX) :]).decode("ascii", "replace")
    return text if _ASSET_ID.match(text) else None


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
            "description": "base64 data; a data: URL prefix is accepted, or asset:<id> for an uploaded asset",
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
