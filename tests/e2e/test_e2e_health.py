"""The real stack answers: gateway health, system health, each service's own health, the editor."""

from __future__ import annotations

import httpx
import pytest

from retouch.local import Stack
from retouch.sdk import Client

pytestmark = pytest.mark.e2e

SERVICES = {"generation", "segmentation", "image_utils", "job_manager"}


def test_gateway_health(client: Client) -> None:
    health = client.health()
    assert health.status == "healthy"
    assert health.service == "gateway"
    assert health.version


def test_system_health_is_all_healthy(client: Client, stack: Stack) -> None:
    report = client.system_health()
    assert set(report.services) == SERVICES
    assert set(stack.service_urls) == SERVICES, "every service package is installed and started"
    unhealthy = {name: s.error for name, s in report.services.items() if s.status != "healthy"}
    assert unhealthy == {}
    assert report.status == "healthy"
    for status in report.services.values():
        assert status.latency_ms is not None and status.latency_ms >= 0
        assert status.version
    # The local stack runs the weightless engines by default.
    assert report.services["generation"].engine == "classic"
    assert report.services["segmentation"].engine == "grabcut"


def test_each_service_answers_its_own_health_without_the_token(stack: Stack) -> None:
    for name, url in stack.service_urls.items():
        response = httpx.get(f"{url}/api/health", timeout=10)
        assert response.status_code == 200, name
        body = response.json()
        assert body["status"] in ("healthy", "loading")
        assert body["version"]


def test_request_id_goes_through_the_gateway(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway_url}/api/health", headers={"X-Request-ID": "e2e-trace-1"}, timeout=10)
    assert response.headers["x-request-id"] == "e2e-trace-1"


def test_openapi_describes_the_image_utils_routes(stack: Stack) -> None:
    document = httpx.get(f"{stack.gateway_url}/api/openapi.json", timeout=10).json()
    paths = document["paths"]
    for op in (
        "extract-object",
        "add-shadow-preview",
        "mask",
        "resize",
        "letterbox",
        "unletterbox",
        "composite",
        "convert",
        "white-balance",
    ):
        assert f"/api/image-utils/{op}" in paths
    assert "/api/system/health" in paths


def test_the_web_editor_is_served_at_the_root(stack: Stack) -> None:
    if stack.web_url is None:
        pytest.skip("apps/web is not in this checkout")
    response = httpx.get(stack.web_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
