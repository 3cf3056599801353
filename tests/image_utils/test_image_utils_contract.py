"""The contract: ROUTES lists exactly what the app serves, and the SDK's calls are retried safely."""

from __future__ import annotations

import httpx
import numpy as np
from image_utils_helpers import encode, noise
from starlette.applications import Starlette
from starlette.routing import Route

from retouch.image_utils.routes import OPERATIONS
from retouch.sdk import AsyncClient
from retouch.sdk.models import public_routes
from retouch.sdk.models.image_utils import ROUTES


def test_routes_match_the_app(app: Starlette) -> None:
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/image-utils/")
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert served == {(info.method, info.path) for info in ROUTES}
    for info in ROUTES:
        assert info.service == "image_utils"
        assert OPERATIONS[info.path.rsplit("/", 1)[1]][0] is info.request
    assert set(ROUTES) <= set(public_routes())


async def test_health(client: AsyncClient) -> None:
    health = await client.health()
    assert (health.status, health.service) == ("healthy", "image-utils")


class _FlakyOnce(httpx.AsyncBaseTransport):
    """Answers the first request with 503 (Retry-After: 0), then passes requests to the app."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            return httpx.Response(
                503, headers={"Retry-After": "0"}, json={"title": "x", "status": 503, "detail": "busy"}
            )
        return await self.inner.handle_async_request(request)


async def test_operations_are_retried_as_idempotent(app: Starlette) -> None:
    transport = _FlakyOnce(app)
    async with AsyncClient("http://test", transport=transport, max_retries=1) as client:
        mask = np.zeros((8, 8), np.uint8)
        mask[2:4, 2:4] = 255
        result = await client.image_utils.extract_object(encode(noise(8, 8)), encode(mask))
    assert result.bbox == [2, 2, 4, 4]
    assert transport.calls == 2
