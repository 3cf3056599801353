"""What metrics and traces cost per request: one service app (``create_service_app``) called in
process on a small JSON route, with its metrics and tracing middleware, without them, and with
tracing on (an in-memory exporter).

    python tests/bench/observability_overhead.py [--requests N] [--rounds R]

Rounds of the three variants alternate (so load from elsewhere on the machine hits all alike);
prints the median microseconds per request of each and the ratios to the bare app, and writes
bench-results/observability_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from retouch.runtime.app import create_service_app
from retouch.runtime.metrics import MetricsMiddleware
from retouch.runtime.settings import ServiceSettings
from retouch.runtime.tracing import TracingMiddleware, use_tracer_provider

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results" / "observability_overhead.json"


async def _item(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["item_id"], "ok": True})


def _app(observed: bool) -> Starlette:
    app = create_service_app(
        name="bench",
        version="0",
        settings=ServiceSettings(log_json=False, log_level="WARNING"),
        routes=[Route("/api/items/{item_id}", _item, methods=["GET"])],
    )
    if not observed:
        app.user_middleware = [m for m in app.user_middleware if m.cls not in (MetricsMiddleware, TracingMiddleware)]
    return app


async def _call(app: Any, path: str) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200


async def _round(app: Any, requests: int) -> float:
    started = time.perf_counter()
    for index in range(requests):
        await _call(app, f"/api/items/{index}")
    return (time.perf_counter() - started) / requests * 1e6


async def main(requests: int, rounds: int) -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    bare, observed = _app(False), _app(True)
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    times: dict[str, list[float]] = {"bare": [], "metrics": [], "metrics+traces": []}
    for app in (bare, observed):  # warm-up: build the middleware stacks
        await _round(app, 50)
    for _ in range(rounds):
        times["bare"].append(await _round(bare, requests))
        times["metrics"].append(await _round(observed, requests))
        use_tracer_provider(provider)
        times["metrics+traces"].append(await _round(observed, requests))
        use_tracer_provider(None)
        spans.clear()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "us_per_request": {name: round(value, 1) for name, value in medians.items()},
        "ratio_to_bare": {name: round(value / medians["bare"], 3) for name, value in medians.items()},
        "requests_per_round": requests,
        "rounds": rounds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    result = asyncio.run(main(args.requests, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    for name, value in result["us_per_request"].items():
        print(f"{name:>15}: {value:8.1f} us/request  x{result['ratio_to_bare'][name]:.3f}")
