"""Insertion references at submit (API.md): every shape the seed client sends is accepted (a
cut-out with a mask R of another size, a picture alone); what can never work is refused."""

from __future__ import annotations

import io

import httpx
from jobs_helpers import ServerThread, b64, body, mask_png, png
from PIL import Image


def rgba_cutout() -> bytes:
    image = Image.new("RGBA", (14, 12), (200, 40, 40, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _post(url: str, **fields: object) -> httpx.Response:
    return httpx.post(f"{url}/api/generate/async", json=body(task_type="insertion", **fields))


def test_a_cutout_with_a_mask_r_of_another_size_is_accepted(jobs: ServerThread) -> None:
    response = _post(jobs.url, reference_image=b64(rgba_cutout()), reference_mask_R=b64(mask_png(40, 40)))
    assert response.status_code == 202, response.text


def test_a_reference_picture_alone_is_accepted(jobs: ServerThread) -> None:
    assert _post(jobs.url, reference_image=b64(png(40, 30))).status_code == 202


def test_an_empty_mask_r_or_a_broken_one_is_refused(jobs: ServerThread) -> None:
    empty = Image.new("L", (40, 40), 0)
    buffer = io.BytesIO()
    empty.save(buffer, "PNG")
    refused = _post(jobs.url, reference_image=b64(rgba_cutout()), reference_mask_R=b64(buffer.getvalue()))
    assert refused.status_code == 422 and "reference_mask_R" in refused.json()["detail"]
    broken = _post(jobs.url, reference_image=b64(rgba_cutout()), reference_mask_R=b64(b"not a picture"))
    assert broken.status_code in (415, 422) and "reference_mask_R" in broken.json()["detail"]
