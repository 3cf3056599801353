"""Prometheus metrics of every retouch service (``prometheus-client``), scraped at ``GET /api/metrics``.

The HTTP metrics (requests by route template and status, latency) come from
:class:`MetricsMiddleware`, which :func:`~retouch.runtime.app.create_service_app` puts on every
service. The domain metrics are defined here once, with the labels each service fills in:

- jobs: queue depth and running jobs per engine (read at scrape time; the label is called
  ``backend``, the name dashboards select on), time queued, finished jobs by status, engine
  time ("GPU-seconds") per owner and engine, webhook deliveries by outcome;
- generation: run time by engine, task and stage; model load time by engine;
- segmentation: smart-mask image cache hits and misses.

Every series carries ``service`` (one process may serve several apps in tests). Route labels are
templates (``/api/generate/status/{task_id}``), never raw paths, so ids do not grow the series.
The scrape route is protected like the rest: the service token on internal services, an API key
at the gateway.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest, push_to_gateway
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retouch.runtime.concurrency import run_sync

__all__ = [
    "GPU_SECONDS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "JOBS_FINISHED",
    "JOBS_QUEUE_WAIT",
    "METRICS_PATH",
    "MODEL_LOAD_SECONDS",
    "RUN_SECONDS",
    "SMART_MASK_CACHE",
    "WEBHOOK_DELIVERIES",
    "GaugeSource",
    "MetricsMiddleware",
    "RouteTemplates",
    "add_gauge_source",
    "instance_id",
    "metrics_endpoint",
    "push_loop",
    "remove_gauge_source",
]

log = logging.getLogger("retouch.runtime")

#: Where every service answers its metrics.
METRICS_PATH: Final = "/api/metrics"
#: Latency buckets in seconds: fast JSON answers up to long synchronous generations.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 150)
_RUN_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
_UNMATCHED: Final = "unmatched"

HTTP_REQUESTS = Counter(
    "retouch_http_requests",
    "HTTP requests answered, by route template and status",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "retouch_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer (a stream: its whole life)",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
JOBS_QUEUE_WAIT = Histogram(
    "retouch_jobs_queue_wait_seconds",
    "Time a job waited in the queue before it started",
    ["backend"],
    buckets=_RUN_BUCKETS,
)
JOBS_FINISHED = Counter("retouch_jobs_finished", "Jobs that reached a terminal status", ["backend", "status"])
GPU_SECONDS = Counter(
    "retouch_gpu_seconds",
    "Seconds jobs held a generation engine (its device), by owner and engine",
    ["owner", "engine"],
)
WEBHOOK_DELIVERIES = Counter(
    "retouch_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, retry, failed)",
    ["outcome"],
)
RUN_SECONDS = Histogram(
    "retouch_generation_run_seconds",
    "Generation run time by engine, task and stage (queued, load_wait, engine, postprocess, total)",
    ["engine", "task", "stage"],
    buckets=_RUN_BUCKETS,
)
MODEL_LOAD_SECONDS = Histogram(
    "retouch_model_load_seconds", "Time an engine took to load its model", ["engine"], buckets=_RUN_BUCKETS
)
SMART_MASK_CACHE = Counter(
    "retouch_smart_mask_cache", "Smart-mask image cache lookups by result (hit, miss)", ["result"]
)

#: A source of gauges read at scrape time: yields ``(name, help, labels, value)``.
GaugeSource = Callable[[], Iterable[tuple[str, str, dict[str, str], float]]]
_SOURCES: dict[int, GaugeSource] = {}


class _GaugeCollector(Collector):
    """Collects the gauges of every registered source (e.g. each jobs service's queue)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        label_names: dict[str, list[str]] = {}
        for source in list(_SOURCES.values()):
            for name, text, labels, value in source():
                family = families.get(name)
                if family is None:
                    label_names[name] = sorted(labels)
                    family = families[name] = GaugeMetricFamily(name, text, labels=label_names[name])
                family.add_metric([labels[key] for key in label_names[name]], value)
        yield from families.values()


REGISTRY.register(_GaugeCollector())


def add_gauge_source(source: GaugeSource) -> int:
    """Read ``source`` on every scrape (until :func:`remove_gauge_source` with the returned id)."""
    key = id(source)
    _SOURCES[key] = source
    return key


def remove_gauge_source(key: int) -> None:
    """Stop reading the source registered under ``key``."""
    _SOURCES.pop(key, None)


def instance_id() -> str:
    """What tells this process apart among the copies of a service (Modal's container id there)."""
    return os.environ.get("MODAL_TASK_ID") or f"{socket.gethostname()}-{os.getpid()}"


async def push_loop(url: str, service: str, every_s: float) -> None:
    """Push every metric of this process to the Pushgateway at ``url`` every ``every_s`` seconds, as
    job ``retouch`` grouped by ``service`` and ``instance``; once more when cancelled (shutdown).
    A failed push is logged and retried at the next tick."""
    grouping = {"service": service, "instance": instance_id()}

    def push() -> None:
        try:
            push_to_gateway(url, job="retouch", registry=REGISTRY, grouping_key=grouping, timeout=10)
        except OSError as exc:
            log.warning("pushing metrics to %s failed: %s", url, exc)

    try:
        while True:
            await run_sync(push)
            await asyncio.sleep(every_s)
    finally:
        # The last numbers of a container that is going away.
        await asyncio.shield(run_sync(push))


async def metrics_endpoint(request: Request) -> Response:
    """``GET /api/metrics``: every metric of this process, in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class RouteTemplates:
    """Maps a request to the template of the route that serves it (``unmatched`` for none)."""

    def __init__(self, routes: Sequence[BaseRoute] = (), templates: Iterable[str] = ()) -> None:
        paths = [*_route_paths(routes), *templates]
        # Literal paths first: ``/api/generate/async`` must not be read as ``/api/generate/{task_id}``.
        ordered = sorted(dict.fromkeys(paths), key=lambda path: ("{" in path, -len(path)))
        self._compiled = [(compile_path(path)[0], path) for path in ordered]

    @functools.lru_cache(maxsize=2048)  # noqa: B019 - one instance per app, living as long as it
    def template(self, path: str) -> str:
        """The template matching ``path``."""
        for regex, template in self._compiled:
            if regex.match(path):
                return template
        return _UNMATCHED


def _route_paths(routes: Sequence[BaseRoute]) -> Iterator[str]:
    for route in routes:
        if isinstance(route, Route):
            yield route.path
        elif isinstance(route, Mount) and route.path == "":
            continue  # static files at "/" are not API routes
        elif isinstance(route, Mount):
            yield route.path + "/{path:path}"


_STATUS_CLASS = re.compile(r"^\d{3}$")


class MetricsMiddleware:
    """Counts every HTTP request by method, route template and status, and times it."""

    def __init__(self, app: ASGIApp, service: str, templates: RouteTemplates) -> None:
        self.app = app
        self.service = service
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count and time this call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            method = scope.get("method", "GET")
            route = self.templates.template(scope.get("path", ""))
            code = str(status) if _STATUS_CLASS.match(str(status)) else "500"
            HTTP_REQUESTS.labels(self.service, method, route, code).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)
