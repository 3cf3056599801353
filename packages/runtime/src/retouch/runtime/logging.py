"""JSON-lines logging with the current request id attached to every record."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

__all__ = ["configure_logging", "current_request_id", "request_id_var"]

#: The id of the request being handled by this task (set by the request-context middleware).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("retouch_request_id", default=None)


def current_request_id() -> str | None:
    """The request id of the request being handled, if any."""
    return request_id_var.get()


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        request_id = request_id_var.get()
        return f"{base} [{request_id}]" if request_id else base


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Route the root logger to stderr, as JSON lines (one object a record) or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(_JsonFormatter(service))
    else:
        handler.setFormatter(_TextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
