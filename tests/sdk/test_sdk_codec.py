"""The contract's codec: base64 fields (plain or data: URL), encode/decode/convert, schema hook."""

from __future__ import annotations

import base64

import msgspec
import pytest

from retouch.sdk import Base64Bytes
from retouch.sdk._codec import convert, decode, decoder, encode, schema_hook


class Payload(msgspec.Struct, kw_only=True):
    image: Base64Bytes
    mask: Base64Bytes | None = None
    name: str = "x"


RAW = bytes(range(256))
B64 = base64.b64encode(RAW).decode()


def test_parse_plain_base64() -> None:
    assert Base64Bytes.parse(B64) == RAW
    assert isinstance(Base64Bytes.parse(B64), Base64Bytes)


def test_parse_data_url_and_line_breaks() -> None:
    assert Base64Bytes.parse(f"data:image/png;base64,{B64}") == RAW
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    assert Base64Bytes.parse(wrapped + "\r\n") == RAW


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "invalid base64"),
        ("abc", "invalid base64"),
        ("data:image/png,aGk=", "must be base64 encoded"),
        ("data:image/png;base64", "must be base64 encoded"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Base64Bytes.parse(text)


def test_b64_roundtrip() -> None:
    assert Base64Bytes(RAW).b64() == B64


def test_struct_fields_decode_base64_or_data_url_and_encode_base64() -> None:
    payload = decode(f'{{"image": "{B64}", "mask": "data:image/png;base64,aGk="}}'.encode(), Payload)
    assert payload.image == RAW and isinstance(payload.image, Base64Bytes)
    assert payload.mask == b"hi"
    assert msgspec.json.decode(encode(payload)) == {"image": B64, "mask": "aGk=", "name": "x"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"image": "%%%"}', "invalid base64 data - at `$.image`"),
        (b'{"image": 12}', "expected a base64 string - at `$.image`"),
        (b'{"image": "aGk=", "mask": "data:text/plain,hi"}', "at `$.mask`"),
        (b'{"name": "x"}', "missing required field `image`"),
    ],
)
def test_decode_errors_name_the_field(body: bytes, fragment: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        decode(body, Payload)
    assert fragment in str(info.value)


def test_broken_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode(b"{", Payload)


def test_convert_from_builtins_and_bytes() -> None:
    assert convert({"image": "aGk="}, Payload).image == b"hi"
    assert convert({"image": b"raw"}, Payload).image == b"raw"


def test_decoder_is_cached_per_type() -> None:
    assert decoder(Payload) is decoder(Payload)
    assert decoder(Payload) is not decoder(list[int])


def test_schema_hook_describes_base64() -> None:
    schema = msgspec.json.schema(Payload, schema_hook=schema_hook)
    image = schema["$defs"]["Payload"]["properties"]["image"]
    assert image["type"] == "string"
    assert image["contentEncoding"] == "base64"
    with pytest.raises(NotImplementedError):
        schema_hook(complex)


def test_unsupported_objects_are_not_encoded() -> None:
    with pytest.raises(NotImplementedError):
        encode({"x": object()})
