"""OpenTelemetry traces across the services (gateway -> jobs -> generation), off unless configured.

On when the OpenTelemetry SDK is installed (``pip install 'retouch-runtime[otel]'``) and the
environment asks for traces the way the SDK reads it: ``OTEL_TRACES_EXPORTER`` (``otlp``,
``console``; ``none`` is off) or an ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, unless ``OTEL_SDK_DISABLED=true``. The exporters read the
rest of their ``OTEL_*`` variables themselves (``OTEL_EXPORTER_OTLP_HEADERS``, protocol...), and
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` override the resource. Off, nothing of
OpenTelemetry is imported and the middleware passes requests straight through.

Each request gets a server span ``"<METHOD> <route template>"`` in the trace of its incoming
``traceparent`` (W3C trace context), carrying the request id (``retouch.request_id``); calls to
other services made while it is current carry the span on (:func:`trace_headers`,
:class:`ContextHeadersTransport`), with ``X-Request-ID``, so one trace spans the services.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retouch.runtime.logging import request_id_var
from retouch.runtime.metrics import RouteTemplates

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "ContextHeadersTransport",
    "TracingMiddleware",
    "configure_tracing",
    "trace_headers",
    "tracing_active",
    "tracing_requested",
    "use_tracer_provider",
]

log = logging.getLogger("retouch.runtime")

#: The tracer provider in use (``None``: tracing is off).
_provider: Any = None


def tracing_requested(environ: dict[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` environment asks for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def tracing_active() -> bool:
    """Whether spans are being recorded in this process."""
    return _provider is not None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Record spans with ``provider`` (tests pass one with an in-memory exporter); ``None`` turns
    tracing off again."""
    global _provider
    _provider = provider


def configure_tracing(service: str) -> bool:
    """Turn tracing on for this process as the ``OTEL_*`` environment says (once; later calls keep
    the first provider); whether it is on. A missing SDK with traces asked for is logged, not fatal."""
    if _provider is not None:
        return True
    if not tracing_requested():
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        log.warning("OTEL_* asks for traces but opentelemetry-sdk is not installed (retouch-runtime[otel])")
        return False
    exporters: list[SpanExporter] = []
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    for name in (part.strip() for part in names.split(",")):
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                    OTLPSpanExporter,
                )
            except ImportError:
                log.warning("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http")
                continue
            exporters.append(OTLPSpanExporter())
        elif name != "none":
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported here (otlp, console)", name)
    if not exporters:
        return False
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win over ours.
    provider = TracerProvider(resource=Resource.create({"service.name": f"retouch-{service}"}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    use_tracer_provider(provider)
    log.info("OpenTelemetry traces on (%s)", names)
    return True


def trace_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current span, for a call to another service;
    empty while tracing is off."""
    if _provider is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class ContextHeadersTransport(httpx.AsyncBaseTransport):
    """Adds the current request's ``X-Request-ID`` and trace context to every outgoing request."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with the context headers it does not carry yet."""
        request_id = request_id_var.get()
        if request_id and "x-request-id" not in request.headers:
            request.headers["X-Request-ID"] = request_id
        for name, value in trace_headers().items():
            request.headers[name] = value
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


class TracingMiddleware:
    """A server span per request, child of the caller's ``traceparent`` (nothing while off)."""

    def __init__(self, app: ASGIApp, service: str, templates: RouteTemplates) -> None:
        self.app = app
        self.service = service
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run this call inside its server span."""
        provider = _provider
        if provider is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import context, propagate, trace

        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        parent = propagate.extract(carrier)
        method = scope.get("method", "GET")
        route = self.templates.template(scope.get("path", ""))
        tracer = provider.get_tracer("retouch")
        attributes = {
            "http.request.method": method,
            "http.route": route,
            "url.path": scope.get("path", ""),
            "retouch.service": self.service,
            "retouch.request_id": request_id_var.get() or "",
        }
        span = tracer.start_span(f"{method} {route}", context=parent, kind=trace.SpanKind.SERVER, attributes=attributes)
        token = context.attach(trace.set_span_in_context(span, parent))
        status = 500

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                span.set_attribute("http.response.status_code", status)
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            if status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()
            context.detach(token)
