"""``retouch.runtime.metrics`` on a bare service app: the scrape route, route templates as labels,
refusals counted, and pushing to a (loopback) Pushgateway."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from loopback import serve_on_loopback
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from retouch.runtime.app import create_service_app
from retouch.runtime.settings import ServiceSettings, SettingsError


async def _item(request: Request) -> Response:
    return Response(b"ok")


def _app(name: str, **settings: object) -> Starlette:
    return create_service_app(
        name=name,
        version="0",
        settings=ServiceSettings(log_json=False, log_level="WARNING", **settings),  # type: ignore[arg-type]
        routes=[Route("/api/items/{item_id}", _item, methods=["GET"])],
    )


def _count(text: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "retouch_http_requests_total" and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_requests_are_counted_by_template_and_status_and_refusals_too() -> None:
    app = _app("metrics-probe", service_token="tok")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        token = {"X-Service-Token": "tok"}
        for item in ("a1", "b2", "c3"):
            assert (await client.get(f"/api/items/{item}", headers=token)).status_code == 200
        assert (await client.get("/api/items/x")).status_code == 401
        assert (await client.get("/api/nothing/here", headers=token)).status_code == 404
        assert (await client.get("/api/metrics")).status_code == 401
        scraped = await client.get("/api/metrics", headers=token)
    assert scraped.status_code == 200
    text = scraped.text
    route = "/api/items/{item_id}"
    assert _count(text, service="metrics-probe", route=route, status="200") == 3
    assert _count(text, service="metrics-probe", route=route, status="401") == 1
    assert _count(text, service="metrics-probe", route="unmatched", status="404") == 1
    assert "a1" not in text and "b2" not in text


def test_metrics_are_pushed_to_a_pushgateway() -> None:
    pushes: list[tuple[str, str, bytes]] = []
    lock = threading.Lock()

    async def receive(request: Request) -> Response:
        with lock:
            pushes.append((request.method, request.url.path, await request.body()))
        return Response(status_code=200)

    gateway = Starlette(routes=[Route("/metrics/{rest:path}", receive, methods=["PUT", "POST"])])
    with (
        serve_on_loopback(gateway) as push_url,
        serve_on_loopback(_app("metrics-pusher", metrics_push_url=push_url, metrics_push_s=0.05)) as url,
    ):
        httpx.get(f"{url}/api/items/z9")
        deadline = time.monotonic() + 20
        while True:
            with lock:
                seen = [p for p in pushes if b'route="/api/items/{item_id}"' in p[2] and b"metrics-pusher" in p[2]]
            if seen or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert seen, pushes[-1:] if pushes else "nothing was pushed"
    method, path, _ = seen[0]
    assert method == "PUT"
    assert path.startswith("/metrics/job/retouch/")
    assert "/service/metrics-pusher" in path and "/instance/" in path


def test_a_bad_push_interval_fails_at_start() -> None:
    with pytest.raises(SettingsError, match="RETOUCH_METRICS_PUSH_SECONDS"):
        ServiceSettings(metrics_push_s=0)
