"""Bad input through the gateway: each a 4xx problem+json, and the stack stays healthy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_config import API_KEYS, MAX_BODY_BYTES
from e2e_images import b64, mask, png, png_declaring, scene

from retouch.local import Stack
from retouch.sdk import AuthenticationError, Client, UnprocessableEntityError

pytestmark = pytest.mark.e2e

EXTRACT = "/api/image-utils/extract-object"
GOOD_IMAGE = b64(png(scene()))
GOOD_MASK = b64(png(mask()))


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    """Raw HTTP to the gateway: these requests are malformed on purpose."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
def still_healthy(stack: Stack) -> Iterator[None]:
    """After every bad request: no process died and each one still answers its health check."""
    yield
    stack.check()
    for name, url in stack.urls.items():
        assert httpx.get(f"{url}/api/health", timeout=10).json()["status"] == "healthy", name


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """``response`` is a problem+json document with ``status`` whose detail mentions ``fragments``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert "Traceback" not in response.text
    for fragment in fragments:
        assert fragment in problem["detail"], problem["detail"]
    return problem


def post_json(http: httpx.Client, path: str, body: Any) -> httpx.Response:
    return http.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def test_invalid_base64(http: httpx.Client) -> None:
    problem = assert_problem(post_json(http, EXTRACT, {"image": "not*base64!", "mask": GOOD_MASK}), 422, "image")
    assert problem["errors"][0]["field"] == "image"


def test_a_data_url_that_is_not_base64(http: httpx.Client) -> None:
    assert_problem(post_json(http, EXTRACT, {"image": "data:image/png,abc", "mask": GOOD_MASK}), 422, "image")


def test_non_image_bytes(http: httpx.Client) -> None:
    body = {"image": b64(b"just some text, not a picture"), "mask": GOOD_MASK}
    assert_problem(post_json(http, EXTRACT, body), 422, "image")


def test_truncated_png(http: httpx.Client) -> None:
    data = png(scene())
    body = {"image": b64(data[: len(data) // 2]), "mask": GOOD_MASK}
    assert_problem(post_json(http, EXTRACT, body), 422, "image")


def test_truncated_mask_names_the_mask(http: httpx.Client) -> None:
    data = png(mask())
    assert_problem(post_json(http, EXTRACT, {"image": GOOD_IMAGE, "mask": b64(data[:40])}), 422, "mask")


def test_small_png_declaring_30000_by_30000(http: httpx.Client) -> None:
    bomb = png_declaring(30000, 30000)
    assert len(bomb) < 200
    assert_problem(post_json(http, EXTRACT, {"image": b64(bomb), "mask": GOOD_MASK}), 413, "image")
    assert_problem(post_json(http, "/api/image-utils/resize", {"image": b64(bomb), "width": 10}), 413, "image")


def test_body_over_the_limit_by_content_length(http: httpx.Client) -> None:
    body = json.dumps({"image": "A" * (MAX_BODY_BYTES + 10), "mask": GOOD_MASK}).encode()
    response = http.post(EXTRACT, content=body, headers={"content-type": "application/json"})
    assert_problem(response, 413, str(MAX_BODY_BYTES))


def test_body_over_the_limit_when_streamed(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"image": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"A" * 65536
        yield b'"}'

    response = http.post(EXTRACT, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (EXTRACT, {"image": 12, "mask": GOOD_MASK}, "image"),
        (EXTRACT, {"image": GOOD_IMAGE, "mask": GOOD_MASK, "threshold": "high"}, "threshold"),
        ("/api/image-utils/mask", {"mask": GOOD_MASK, "operation": 3}, "operation"),
        ("/api/image-utils/mask", {"mask": GOOD_MASK, "operation": "explode"}, "operation"),
        ("/api/image-utils/resize", {"image": GOOD_IMAGE, "width": "wide"}, "width"),
        (
            "/api/image-utils/add-shadow-preview",
            {"extracted_image": GOOD_IMAGE, "shadow_opacity": 2.5},
            "shadow_opacity",
        ),
        ("/api/image-utils/add-shadow-preview", {"extracted_image": GOOD_IMAGE, "blur_radius": -1}, "blur_radius"),
        ("/api/image-utils/convert", {"image": GOOD_IMAGE, "format": "gif"}, "format"),
        (
            "/api/image-utils/composite",
            {"background": GOOD_IMAGE, "foreground": GOOD_IMAGE, "position": [1]},
            "position",
        ),
    ],
)
def test_wrong_json_types_and_ranges(http: httpx.Client, path: str, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(post_json(http, path, body), 422, field)
    assert problem["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("path", "body", "missing"),
    [
        (EXTRACT, {"image": GOOD_IMAGE}, "mask"),
        (EXTRACT, {"mask": GOOD_MASK}, "image"),
        ("/api/image-utils/mask", {"mask": GOOD_MASK}, "operation"),
        ("/api/image-utils/convert", {"image": GOOD_IMAGE}, "format"),
    ],
)
def test_missing_fields(http: httpx.Client, path: str, body: dict[str, Any], missing: str) -> None:
    assert_problem(post_json(http, path, body), 422, missing)


@pytest.mark.parametrize("body", [b"", b"{broken", b"[]", b'"a string"'])
def test_not_a_json_object(http: httpx.Client, body: bytes) -> None:
    response = http.post(EXTRACT, content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)


def test_the_sdk_raises_the_422_with_its_field(client: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        client.image_utils.extract_object(png(scene()), b"not an image")
    assert info.value.problem.errors is not None
    assert info.value.problem.errors[0].field == "mask"
    assert info.value.request_id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nope"),
        ("POST", "/api/nope"),
        ("POST", "/api/image-utils/no-such-operation"),
        ("GET", "/api/image-utils/no-such-operation"),
        ("GET", "/api/image-utils"),
        ("GET", "/api/system/nope"),
    ],
)
def test_unknown_routes_are_404_not_405(http: httpx.Client, method: str, path: str) -> None:
    assert_problem(http.request(method, path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", EXTRACT), ("PUT", "/api/image-utils/resize"), ("DELETE", "/api/health"), ("POST", "/api/system/health")],
)
def test_wrong_method_is_405(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    assert_problem(response, 405)


def test_request_id_is_in_the_problem_and_the_header(http: httpx.Client) -> None:
    response = http.post(
        EXTRACT, content=b"{}", headers={"content-type": "application/json", "X-Request-ID": "e2e-bad-1"}
    )
    problem = assert_problem(response, 422)
    assert response.headers["x-request-id"] == "e2e-bad-1"
    assert problem.get("request_id") == "e2e-bad-1"


# -- API keys (a second gateway with RETOUCH_API_KEYS in front of the same services) -------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEYS[0]}"}, {"Authorization": "Bearer"}],
)
def test_missing_or_wrong_api_key_is_401(keyed_gateway: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=keyed_gateway, timeout=30, headers=headers) as http:
        assert_problem(post_json(http, "/api/image-utils/metadata", {"image": GOOD_IMAGE}), 401)
        assert_problem(http.get("/api/system/health"), 401)
        # Unknown routes do not leak past the key check either.
        assert_problem(http.get("/api/nope"), 401)


def test_a_valid_api_key_passes(keyed_gateway: str) -> None:
    for key in API_KEYS:
        with Client(keyed_gateway, api_key=key, max_retries=0) as sdk:
            assert sdk.image_utils.metadata(png(scene())).width == 64
            assert sdk.system_health().status == "healthy"


def test_health_stays_open_with_keys(keyed_gateway: str) -> None:
    response = httpx.get(f"{keyed_gateway}/api/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


def test_the_sdk_raises_authentication_error(keyed_gateway: str) -> None:
    with Client(keyed_gateway, api_key="wrong", max_retries=0) as sdk, pytest.raises(AuthenticationError):
        sdk.image_utils.metadata(png(scene()))


# -- internal services refuse callers without the service token -----------------------------------
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_internal_service_without_the_service_token_is_401(stack: Stack, token: str | None) -> None:
    headers = {} if token is None else {"X-Service-Token": token}
    for name, url in stack.service_urls.items():
        response = httpx.post(
            f"{url}/api/image-utils/metadata", json={"image": GOOD_IMAGE}, headers=headers, timeout=30
        )
        assert_problem(response, 401, "service token")
        assert name


def test_internal_service_with_the_service_token_answers(stack: Stack) -> None:
    url = stack.service_urls["image_utils"]
    response = httpx.post(
        f"{url}/api/image-utils/metadata",
        json={"image": GOOD_IMAGE},
        headers={"X-Service-Token": stack.token},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["width"] == 64


def test_the_whole_system_is_healthy_after_the_bad_input(client: Client) -> None:
    report = client.system_health(timeout=30)
    assert report.status == "healthy", {name: s.error for name, s in report.services.items()}
