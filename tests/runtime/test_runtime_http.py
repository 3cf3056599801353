"""decode_struct: the contract's decoder with 400/422 problems; StructResponse encoding."""

from __future__ import annotations

from http import HTTPStatus

import msgspec
import pytest

from retouch.runtime import ProblemError, StructResponse, decode_struct
from retouch.runtime.problems import field_error, from_validation_error
from retouch.sdk import Base64Bytes


class Upload(msgspec.Struct, kw_only=True):
    image: Base64Bytes
    points: list[list[int]] = []


def test_base64_and_data_url_are_accepted() -> None:
    assert decode_struct(b'{"image": "aGk="}', Upload).image == b"hi"
    assert decode_struct(b'{"image": "data:image/png;base64,aGk="}', Upload).image == b"hi"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"image": "***"}', 422, "image"),
        (b'{"image": 5}', 422, "image"),
        (b'{"image": "aGk=", "points": [[1, "a"]]}', 422, "points[0][1]"),
        (b'{"points": []}', 422, "body"),
        (b"   ", 422, None),
        (b'{"image": ', 400, None),
    ],
)
def test_errors(body: bytes, status: int, field: str | None) -> None:
    with pytest.raises(ProblemError) as info:
        decode_struct(body, Upload)
    assert info.value.status == status
    if field is not None:
        assert info.value.errors is not None
        assert info.value.errors[0].field == field, info.value.detail
        assert info.value.detail.startswith(f"{field}: ")


def test_field_error_and_problem_document() -> None:
    error = field_error("bbox", "x_min must be below x_max")
    problem = error.to_problem("rid", "/api/x")
    assert (problem.status, problem.title, problem.detail) == (
        422,
        HTTPStatus(422).phrase,
        "bbox: x_min must be below x_max",
    )
    assert problem.request_id == "rid" and problem.instance == "/api/x"
    assert field_error("image", "too big", 413).status == 413


def test_from_validation_error_without_a_path() -> None:
    error = from_validation_error(msgspec.ValidationError("Expected `object`, got `int`"))
    assert error.detail == "body: Expected `object`, got `int`"


def test_struct_response_uses_the_contract_encoder() -> None:
    response = StructResponse(Upload(image=Base64Bytes(b"hi")), status_code=201)
    assert response.body == b'{"image":"aGk=","points":[]}'
    assert response.media_type == "application/json"
    assert response.status_code == 201


@pytest.mark.parametrize("where", ["field", "ignored", "top"])
def test_json_nested_1000_deep_is_422(where: str) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    body = {
        "field": b'{"image": ' + deep + b"}",
        "ignored": b'{"image": "aGk=", "extra": ' + deep + b"}",
        "top": b"{" + b'"a":{' * 999 + b"}" * 1000,
    }[where]
    assert len(body) < 8000
    with pytest.raises(ProblemError) as info:
        decode_struct(body, Upload)
    assert info.value.status == 422
    assert "nested too deeply" in info.value.detail
