"""Every bad input is a 4xx problem+json that names the field, on every operation."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from image_utils_helpers import encode, noise, png_declaring

from retouch.image_utils.app import create_app
from retouch.image_utils.settings import ImageUtilsSettings


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


IMAGE = _b64(encode(noise(16, 16)))
MASK = np.zeros((16, 16), np.uint8)
MASK[4:10, 4:10] = 255
MASK_B64 = _b64(encode(MASK))
INFO = {
    "original_width": 16,
    "original_height": 16,
    "width": 16,
    "height": 16,
    "scale": 1.0,
    "pad_x": 0,
    "pad_y": 0,
    "content_width": 16,
    "content_height": 16,
}

#: A valid body for every operation, and the image fields it carries.
VALID: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "extract-object": ({"image": IMAGE, "mask": MASK_B64}, ("image", "mask")),
    "add-shadow-preview": ({"extracted_image": IMAGE, "mask": MASK_B64}, ("extracted_image", "mask")),
    "mask": ({"mask": MASK_B64, "operation": "grow", "amount": 2}, ("mask",)),
    "resize": ({"image": IMAGE, "width": 8}, ("image",)),
    "letterbox": ({"image": IMAGE, "size": 20}, ("image",)),
    "unletterbox": ({"image": IMAGE, "letterbox": INFO}, ("image",)),
    "composite": ({"background": IMAGE, "foreground": IMAGE, "mask": MASK_B64}, ("background", "foreground", "mask")),
    "convert": ({"image": IMAGE, "format": "webp", "quality": 50}, ("image",)),
    "white-balance": ({"image": IMAGE}, ("image",)),
    "metadata": ({"image": IMAGE}, ("image",)),
}

IMAGE_FIELDS = [(op, field) for op, (_, fields) in VALID.items() for field in fields]


def _truncated_png() -> bytes:
    data = encode(noise(64, 64))
    return data[: len(data) // 2]


BAD_IMAGES: dict[str, Callable[[], str]] = {
    "invalid base64": lambda: "this is not base64!",
    "non-image bytes": lambda: _b64(b"hello, I am plain text and no picture at all"),
    "empty": lambda: "",
    "truncated png": lambda: _b64(_truncated_png()),
    "30000x30000 png": lambda: _b64(png_declaring(30_000, 30_000)),
    "5000x5000 png": lambda: _b64(png_declaring(5_000, 5_000)),
}


def _assert_problem(
    response: httpx.Response, status: int | tuple[int, ...], field: str | None = None
) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status_code
    assert isinstance(problem["detail"], str) and "Traceback" not in problem["detail"]
    if field is not None:
        assert problem["detail"].startswith(f"{field}:"), problem["detail"]
        assert problem["errors"][0]["field"] == field
    return problem


@pytest.mark.parametrize("op", list(VALID))
async def test_every_operation_answers_a_valid_request(http: httpx.AsyncClient, op: str) -> None:
    body, _ = VALID[op]
    response = await http.post(f"/api/image-utils/{op}", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"


#: metadata reads the header only, so a truncated body with a good header is answered (see below).
BAD_IMAGE_CASES = [
    (op, field, kind)
    for op, field in IMAGE_FIELDS
    for kind in BAD_IMAGES
    if (op, kind) != ("metadata", "truncated png")
]


@pytest.mark.parametrize(("op", "field", "kind"), BAD_IMAGE_CASES)
async def test_bad_image_is_named(http: httpx.AsyncClient, op: str, field: str, kind: str) -> None:
    body = dict(VALID[op][0])
    body[field] = BAD_IMAGES[kind]()
    response = await http.post(f"/api/image-utils/{op}", json=body)
    huge = kind.endswith("000 png")
    problem = _assert_problem(response, 413 if huge else 422, field)
    # Refused from the header, before any pixel is decoded (the data holds one row, so decoding it
    # would have answered "truncated"): 30000x30000 already by Pillow's bomb guard when the header
    # is read, 5000x5000 by the configured side limit.
    if kind.startswith("30000"):
        assert "decompression bomb" in problem["detail"] or "RETOUCH_MAX_IMAGE" in problem["detail"]
    elif kind.startswith("5000"):
        assert "RETOUCH_MAX_IMAGE_SIDE" in problem["detail"]


async def test_metadata_of_a_truncated_png_reports_its_header(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/image-utils/metadata", json={"image": _b64(_truncated_png())})
    assert response.status_code == 200
    assert (response.json()["width"], response.json()["height"]) == (64, 64)


@pytest.mark.parametrize(("op", "field"), IMAGE_FIELDS)
async def test_data_url_prefix_is_accepted(http: httpx.AsyncClient, op: str, field: str) -> None:
    body = dict(VALID[op][0])
    body[field] = "data:image/png;base64," + body[field]
    assert (await http.post(f"/api/image-utils/{op}", json=body)).status_code == 200


@pytest.mark.parametrize("op", list(VALID))
async def test_missing_field_is_named(http: httpx.AsyncClient, op: str) -> None:
    body, fields = VALID[op]
    required = fields[0]
    response = await http.post(f"/api/image-utils/{op}", json={k: v for k, v in body.items() if k != required})
    problem = _assert_problem(response, 422)
    assert required in problem["detail"]


@pytest.mark.parametrize(
    ("op", "patch", "field"),
    [
        ("extract-object", {"image": 5}, "image"),
        ("extract-object", {"threshold": "high"}, "threshold"),
        ("mask", {"amount": "five"}, "amount"),
        ("mask", {"operation": 3}, "operation"),
        ("resize", {"width": 8.5}, "width"),
        ("letterbox", {"color": "black"}, "color"),
        ("unletterbox", {"letterbox": {**INFO, "scale": "one"}}, "letterbox.scale"),
        ("composite", {"position": [1, "two"]}, "position[1]"),
        ("composite", {"position": [1]}, "position"),
        ("convert", {"format": "gif"}, "format"),
        ("convert", {"quality": 0}, "quality"),
        ("add-shadow-preview", {"shadow_opacity": "lots"}, "shadow_opacity"),
        ("add-shadow-preview", {"shadow_opacity": 2}, "shadow_opacity"),
        ("add-shadow-preview", {"blur_radius": -3}, "blur_radius"),
        ("add-shadow-preview", {"shadow_offset_x": 1e6}, "shadow_offset_x"),
        ("add-shadow-preview", {"shadow_color": [0, 0]}, "shadow_color"),
        ("white-balance", {"percentile": 101}, "percentile"),
    ],
)
async def test_wrong_json_types_and_ranges(http: httpx.AsyncClient, op: str, patch: dict[str, Any], field: str) -> None:
    body = {**VALID[op][0], **patch}
    _assert_problem(await http.post(f"/api/image-utils/{op}", json=body), 422, field)


@pytest.mark.parametrize(
    ("op", "field"), [("extract-object", "mask"), ("add-shadow-preview", "mask"), ("composite", "mask")]
)
async def test_mask_size_mismatch_is_named(http: httpx.AsyncClient, op: str, field: str) -> None:
    body = {**VALID[op][0], field: _b64(encode(np.zeros((5, 7), np.uint8)))}
    problem = _assert_problem(await http.post(f"/api/image-utils/{op}", json=body), 422, field)
    assert "7x5" in problem["detail"]


@pytest.mark.parametrize(("content", "status"), [(b"{not json", 400), (b"", 422), (b"[1, 2]", 422), (b'"image"', 422)])
async def test_bodies_that_are_not_a_json_object(http: httpx.AsyncClient, content: bytes, status: int) -> None:
    response = await http.post(
        "/api/image-utils/convert", content=content, headers={"content-type": "application/json"}
    )
    _assert_problem(response, status)


async def test_unknown_operation_is_404(http: httpx.AsyncClient) -> None:
    _assert_problem(await http.post("/api/image-utils/sharpen", json={"image": IMAGE}), 404)


@pytest.mark.parametrize("op", list(VALID))
async def test_get_on_an_operation_is_405(http: httpx.AsyncClient, op: str) -> None:
    response = await http.get(f"/api/image-utils/{op}")
    _assert_problem(response, 405)
    assert "POST" in response.headers.get("allow", "")


async def test_body_over_the_limit_is_413() -> None:
    app = create_app(ImageUtilsSettings(log_json=False, max_body_bytes=2_000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        big = {"image": _b64(encode(noise(64, 64))), "format": "png"}
        _assert_problem(await http.post("/api/image-utils/convert", json=big), 413)
        assert (await http.post("/api/image-utils/metadata", json={"image": IMAGE})).status_code == 200


async def test_pixel_limit_is_configurable() -> None:
    app = create_app(ImageUtilsSettings(log_json=False, max_image_pixels=100))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        problem = _assert_problem(await http.post("/api/image-utils/convert", json=VALID["convert"][0]), 413, "image")
        assert "RETOUCH_MAX_IMAGE_PIXELS" in problem["detail"]


async def test_service_token_is_required_when_configured() -> None:
    app = create_app(ImageUtilsSettings(log_json=False, service_token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        _assert_problem(await http.post("/api/image-utils/metadata", json={"image": IMAGE}), 401)
        ok = await http.post("/api/image-utils/metadata", json={"image": IMAGE}, headers={"X-Service-Token": "s3cret"})
        assert ok.status_code == 200
        health = await http.get("/api/health")
        assert health.status_code == 200 and health.json()["service"] == "image-utils"
