"""The wire format of the contract, for the services and tools built on the SDK.

JSON with msgspec: :func:`encode` / :func:`decode` / :func:`decoder` for the contract's Structs,
:class:`Base64Bytes` for binary fields (a base64 string on the wire, a ``data:`` URL prefix
accepted), ``"asset:<id>"`` references to uploaded pictures (:class:`AssetRef`, :func:`asset_id_of`),
and :func:`schema_hook` for JSON Schema / OpenAPI generation. This is the public name other
packages import; the implementation lives in the SDK's private ``_codec`` module.
"""

from __future__ import annotations

from retouch.sdk._codec import (
    ASSET_ID_PATTERN,
    ASSET_PREFIX,
    AssetRef,
    Base64Bytes,
    asset_id_of,
    decode,
    decoder,
    encode,
    schema_hook,
)

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
