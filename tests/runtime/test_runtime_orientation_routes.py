"""EXIF orientation is applied once, the same way, before any size is compared: a mask drawn on the
upright picture fits it at jobs submit AND in the generation service (and the stored-size mask
fits neither), and image-utils reports the upright size."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from service_apps import serve_all

#: Stored 40x30; EXIF orientation 6 ("rotate 90 clockwise to view") makes it 30x40 upright.
STORED, UPRIGHT = (40, 30), (30, 40)


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", STORED, (120, 90, 60)).save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _mask(size: tuple[int, int]) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (5, 5, 15, 15))
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _body(mask_size: tuple[int, int]) -> dict[str, object]:
    return {
        "prompt": "",
        "task_type": "removal",
        "engine": "classic",
        "input_image": _b64(_rotated_jpeg()),
        "mask": _b64(_mask(mask_size)),
    }


@pytest.fixture
async def clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    monkeypatch.setattr("retouch.runtime.app.configure_logging", lambda *args, **kwargs: None)
    async with serve_all(tmp_path) as clients:
        yield clients


async def test_image_utils_reports_the_upright_size(clients: dict[str, httpx.AsyncClient]) -> None:
    response = await clients["image-utils"].post("/api/image-utils/metadata", json={"image": _b64(_rotated_jpeg())})
    meta = response.json()
    assert (meta["width"], meta["height"], meta["orientation"]) == (*UPRIGHT, 6)
    assert (meta["stored_width"], meta["stored_height"]) == STORED


async def test_a_mask_of_the_upright_picture_fits_in_jobs_and_in_generation(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    jobs = clients["jobs"]
    submitted = await jobs.post("/api/generate/async", json=_body(UPRIGHT))
    assert submitted.status_code == 202, submitted.text
    await jobs.post(f"/api/generate/async/cancel/{submitted.json()['task_id']}")

    response = await clients["generation"].post("/api/generation/run", json=_body(UPRIGHT))
    assert response.status_code == 200, response.text
    result = json.loads(response.text.splitlines()[-1])
    assert result["type"] == "result", result
    assert (result["width"], result["height"]) == UPRIGHT


async def test_a_mask_of_the_stored_size_fits_neither(clients: dict[str, httpx.AsyncClient]) -> None:
    expected = "mask is 40x30 but the image is 30x40"
    submitted = await clients["jobs"].post("/api/generate/async", json=_body(STORED))
    assert submitted.status_code == 422 and expected in submitted.json()["detail"], submitted.text
    response = await clients["generation"].post("/api/generation/run", json=_body(STORED))
    assert response.status_code == 422 and expected in response.json()["detail"], response.text
