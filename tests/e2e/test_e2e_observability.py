"""Metrics and traces across gateway -> jobs -> generation (classic engine), each a real server on
loopback in this process: ``/api/metrics`` of each service, parsed with prometheus_client's
parser, shows the run; scraping is protected like the rest; one trace, exported to an in-memory
exporter, spans the three services and carries the request id."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_images import b64, mask, png, scene
from loopback import serve_on_loopback
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from retouch.gateway.app import create_app as create_gateway
from retouch.gateway.settings import GatewaySettings
from retouch.generation.app import create_app as create_generation
from retouch.generation.settings import GenerationSettings
from retouch.jobs.app import create_app as create_jobs
from retouch.jobs.settings import JobsSettings
from retouch.runtime.tracing import tracing_requested, use_tracer_provider

pytestmark = pytest.mark.e2e

TOKEN = "observability-token"
KEY = "observability-key"
QUIET: dict[str, Any] = {"log_json": False, "log_level": "WARNING", "service_token": TOKEN}


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    use_tracer_provider(provider)
    try:
        yield spans
    finally:
        use_tracer_provider(None)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, exporter: InMemorySpanExporter) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("observability")
    with contextlib.ExitStack() as stack:
        generation = stack.enter_context(
            serve_on_loopback(create_generation(GenerationSettings(engine="classic", data_dir=root / "gen", **QUIET)))
        )
        jobs = stack.enter_context(
            serve_on_loopback(
                create_jobs(JobsSettings(data_dir=root / "jobs", generation_service_url=generation, **QUIET))
            )
        )
        gateway = stack.enter_context(
            serve_on_loopback(
                create_gateway(
                    GatewaySettings(
                        generation_url=generation, job_manager_url=jobs, api_keys=[KEY], data_dir=root / "gw", **QUIET
                    )
                )
            )
        )
        yield {"gateway": gateway, "jobs": jobs, "generation": generation}


def _run_a_job(gateway: str, request_id: str) -> str:
    body = {"prompt": "", "task_type": "removal", "input_image": b64(png(scene())), "mask": b64(png(mask()))}
    auth = {"Authorization": f"Bearer {KEY}"}
    submitted = httpx.post(
        f"{gateway}/api/generate", json=body, headers={**auth, "X-Request-ID": request_id}, timeout=120
    )
    assert submitted.status_code == 200, submitted.text
    task_id: str = submitted.json()["task_id"]
    assert httpx.get(f"{gateway}/api/generate/status/{task_id}", headers=auth).json()["status"] == "done"
    return task_id


def _samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found)


def test_metrics_of_each_service_show_the_run(services: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    before = _samples(httpx.get(f"{services['gateway']}/api/metrics", headers=auth).text)
    _run_a_job(services["gateway"], "metrics-run")
    scraped = httpx.get(f"{services['gateway']}/api/metrics", headers=auth)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    after = _samples(scraped.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    # HTTP: counted by route template (never the raw path), with the status, on each service.
    route = "/api/generate/status/{task_id}"
    assert grew("retouch_http_requests_total", service="gateway", method="GET", route=route, status="200") == 1
    assert grew("retouch_http_requests_total", service="job_manager", method="GET", route=route, status="200") == 1
    assert grew("retouch_http_requests_total", service="gateway", method="POST", route="/api/generate") == 1
    assert grew("retouch_http_requests_total", service="generation", method="POST", route="/api/generation/run") == 1
    assert not [s for s in after if re.search(r"[0-9a-f]{32}", s.labels.get("route", ""))], "no task id in a label"
    assert grew("retouch_http_request_duration_seconds_count", service="job_manager", route="/api/generate") == 1
    assert _value(after, "retouch_http_request_duration_seconds_bucket", service="gateway", le="+Inf") > 0
    # Jobs: queue wait, the finished job, engine time by owner; queue depth is a gauge.
    assert grew("retouch_jobs_queue_wait_seconds_count", backend="default") == 1
    assert grew("retouch_jobs_finished_total", status="done") == 1
    assert grew("retouch_gpu_seconds_total", engine="classic") > 0
    assert [s for s in after if s.name == "retouch_jobs_queue_depth" and s.labels["backend"] == "default"]
    # Generation: run time by engine, task and stage; the model's load time.
    for stage in ("queued", "engine", "postprocess", "total"):
        assert grew("retouch_generation_run_seconds_count", engine="classic", task="removal", stage=stage) == 1
    assert _value(after, "retouch_model_load_seconds_count", engine="classic") >= 1


def test_scraping_is_protected_like_the_rest(services: dict[str, str]) -> None:
    assert httpx.get(f"{services['gateway']}/api/metrics").status_code == 401
    assert httpx.get(f"{services['gateway']}/api/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    for name in ("jobs", "generation"):
        assert httpx.get(f"{services[name]}/api/metrics").status_code == 401
        ok = httpx.get(f"{services[name]}/api/metrics", headers={"X-Service-Token": TOKEN})
        assert ok.status_code == 200 and "retouch_http_requests_total" in ok.text


def _server_spans(spans: tuple[ReadableSpan, ...], request_id: str) -> list[ReadableSpan]:
    return [span for span in spans if (span.attributes or {}).get("retouch.request_id") == request_id]


def test_one_trace_spans_the_three_services_with_the_request_id(
    services: dict[str, str], exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    _run_a_job(services["gateway"], "trace-run-1")
    spans = _server_spans(exporter.get_finished_spans(), "trace-run-1")
    by_service = {(span.attributes or {})["retouch.service"]: span for span in spans}
    assert set(by_service) == {"gateway", "job_manager", "generation"}, [s.name for s in spans]
    assert len({span.context.trace_id for span in spans}) == 1
    gateway, jobs, generation = by_service["gateway"], by_service["job_manager"], by_service["generation"]
    assert gateway.parent is None
    assert jobs.parent is not None and jobs.parent.span_id == gateway.context.span_id
    assert generation.parent is not None and generation.parent.span_id == jobs.context.span_id
    assert gateway.name == "POST /api/generate" and generation.name == "POST /api/generation/run"
    assert (generation.attributes or {})["http.response.status_code"] == 200

    # A second job is a trace of its own, even though its run starts from the first one's slot.
    _run_a_job(services["gateway"], "trace-run-2")
    second = _server_spans(exporter.get_finished_spans(), "trace-run-2")
    assert len(second) == 3 and len({span.context.trace_id for span in second}) == 1
    assert second[0].context.trace_id != gateway.context.trace_id


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
