"""A service that dies is reported, its routes answer 503 naming it, and a restart heals the stack."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
from e2e_images import png, scene

from retouch.local import Stack
from retouch.sdk import Client, ServiceUnavailableError
from retouch.sdk.models.common import SystemHealth

pytestmark = pytest.mark.e2e


def wait_for(client: Client, predicate: Callable[[SystemHealth], bool], timeout: float = 30.0) -> SystemHealth:
    """Poll system health (it is cached for a moment) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        report = client.system_health()
        if predicate(report) or time.monotonic() > deadline:
            return report
        time.sleep(0.3)


def test_killed_service_is_reported_and_restart_heals(stack: Stack, client: Client) -> None:
    try:
        assert stack.kill("image_utils", signal.SIGKILL) == -signal.SIGKILL
        with pytest.raises(ServiceUnavailableError) as info:
            client.image_utils.metadata(png(scene()))
        assert "image_utils" in info.value.detail or "image-utils" in info.value.detail
        report = wait_for(client, lambda r: r.services["image_utils"].status == "unhealthy")
        assert report.services["image_utils"].status == "unhealthy"
        assert report.services["image_utils"].error
        assert report.status == "degraded"
        # The other services are untouched.
        assert report.services["generation"].status == "healthy"
    finally:
        stack.restart("image_utils")
    assert client.image_utils.metadata(png(scene())).width == 64
    report = wait_for(client, lambda r: r.status == "healthy")
    assert report.status == "healthy"
    stack.check()
