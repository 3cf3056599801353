"""The one set of GenerationRequest rules: a pure function of the request, and the same answer at
jobs submit and at the generation service."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from service_apps import serve_all

from retouch.runtime.validation import generation_request_errors
from retouch.sdk.models.generation import GenerationRequest


def _png(colour: int = 255) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (16, 12), colour).save(buf, format="PNG")
    return buf.getvalue()


def _request(**fields: Any) -> GenerationRequest:
    values: dict[str, Any] = {"prompt": "", "input_image": _png(), "task_type": "removal", "mask": _png()}
    values.update(fields)
    return GenerationRequest(**values)


#: name -> (fields changed from a good removal request, the fields the errors must name)
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "removal without a mask": ({"mask": None}, ["mask"]),
    "mask given twice": ({"conditional_images": [_png()]}, ["mask"]),
    "reference on removal": ({"reference_image": _png(), "reference_mask_R": _png()}, ["reference_image"]),
    "reference mask alone on removal": ({"reference_mask_R": _png()}, ["reference_mask_R"]),
    "insertion mask without its reference": (
        {"task_type": "insertion", "reference_mask_R": _png()},
        ["reference_image"],
    ),
    "insertion with neither reference nor prompt": ({"task_type": "insertion"}, ["prompt"]),
    "unknown engine": ({"engine": "stable-diffusion"}, ["engine"]),
    "two rules at once": ({"mask": None, "engine": "nope"}, ["engine", "mask"]),
}


def test_a_good_request_has_no_errors() -> None:
    assert generation_request_errors(_request(), ["classic"]) == []
    assert generation_request_errors(_request(task_type="white-balance", mask=None), ["classic"]) == []
    assert generation_request_errors(_request(task_type="insertion", prompt="a red ball"), ["classic"]) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_rule_is_one_field_error(case: str) -> None:
    changes, fields = CASES[case]
    errors = generation_request_errors(_request(**changes), ["classic"])
    assert sorted(error.field for error in errors) == sorted(fields)
    assert all(error.message for error in errors)


def test_no_engines_given_skips_the_engine_rule() -> None:
    assert generation_request_errors(_request(engine="anything")) == []


@pytest.fixture
async def clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    monkeypatch.setattr("retouch.runtime.app.configure_logging", lambda *args, **kwargs: None)
    async with serve_all(tmp_path) as clients:
        yield clients


@pytest.mark.parametrize("case", sorted(CASES))
async def test_jobs_and_generation_refuse_alike(clients: dict[str, httpx.AsyncClient], case: str) -> None:
    changes, _ = CASES[case]
    body: dict[str, Any] = {"prompt": "", "input_image": _png(), "task_type": "removal", "mask": _png(), **changes}
    encoded = {
        key: [base64.b64encode(item).decode() for item in value]
        if isinstance(value, list)
        else base64.b64encode(value).decode()
        if isinstance(value, bytes)
        else value
        for key, value in body.items()
    }
    answers = [
        await clients["jobs"].post("/api/generate/async", json=encoded),
        await clients["generation"].post("/api/generation/run", json=encoded),
    ]
    assert [answer.status_code for answer in answers] == [422, 422], [answer.text for answer in answers]
    errors = [sorted(error["field"] for error in answer.json()["errors"]) for answer in answers]
    assert errors[0] == errors[1], errors
