"""The seed system's multipart form of white-balance (API.md): ``file``, ``method``, optional
``temperature`` and ``tint`` -> ``success``, ``original_image``, ``corrected_image``,
``method_used``; every bad field is a 422 naming it."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

CAST = np.array([1.25, 1.0, 0.6])


def cast_png() -> bytes:
    scene = np.random.default_rng(3).integers(40, 200, (48, 64, 3)).astype(float)
    scene[16:32, 20:44] = 128
    pixels = np.clip(scene * CAST, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def picture(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")).astype(float)


def spread(pixels: np.ndarray) -> float:
    means = pixels[16:32, 20:44].reshape(-1, 3).mean(axis=0)
    return float(means.max() / means.min() - 1)


async def post(http: httpx.AsyncClient, data: dict[str, Any], file: bytes | None = None) -> httpx.Response:
    files = {"file": ("photo.png", file if file is not None else cast_png(), "image/png")}
    return await http.post("/api/image-utils/white-balance", data=data, files=files)


@pytest.mark.parametrize("method", ["auto", "gray_world", "white-patch", "robust"])
async def test_the_form_answers_as_the_seed_did(http: httpx.AsyncClient, method: str) -> None:
    response = await post(http, {"method": method})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True and answer["method_used"].startswith(("robust", "gray-world", "white-patch"))
    original, corrected = picture(answer["original_image"]), picture(answer["corrected_image"])
    assert original.shape == corrected.shape == (48, 64, 3)
    assert spread(corrected) < spread(original)


async def test_temperature_and_tint_shift_the_colours(http: httpx.AsyncClient) -> None:
    neutral = (await post(http, {"method": "auto"})).json()
    warmer = (await post(http, {"method": "auto", "temperature": "60", "tint": "-20"})).json()
    assert warmer["method_used"] == "robust+temperature=60+tint=-20"
    a, b = picture(neutral["corrected_image"]).mean(axis=(0, 1)), picture(warmer["corrected_image"]).mean(axis=(0, 1))
    assert b[0] - b[2] > a[0] - a[2], "warmer: red gains on blue"
    manual = (await post(http, {"method": "manual", "temperature": "-40"})).json()
    assert manual["method_used"] == "manual+temperature=-40"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"method": "sepia"}, "method"),
        ({"method": "auto", "temperature": "hot"}, "temperature"),
        ({"method": "auto", "tint": "500"}, "tint"),
        ({"method": "manual"}, "method"),
    ],
)
async def test_bad_fields_are_422(http: httpx.AsyncClient, data: dict[str, Any], field: str) -> None:
    response = await post(http, data)
    assert response.status_code == 422 and field in response.json()["detail"]


async def test_a_form_without_the_picture_or_with_junk_is_refused(http: httpx.AsyncClient) -> None:
    missing = await http.post("/api/image-utils/white-balance", data={"method": "auto"}, files={"other": ("x", b"x")})
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    junk = await post(http, {"method": "auto"}, file=b"not a picture")
    assert junk.status_code in (400, 415, 422) and "file" in junk.json()["detail"]


async def test_an_empty_upload_is_refused(http: httpx.AsyncClient) -> None:
    empty = await post(http, {"method": "auto"}, file=b"")
    assert empty.status_code == 422 and "file" in empty.json()["detail"]
