"""Fixtures for the jobs tests: a fake generation service and jobs services wired to it, each
served on loopback from its own thread (so sync and async clients both work from a test)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fake_generation
from jobs_helpers import JobsFactory, ServerThread

from retouch.jobs.app import create_app
from retouch.jobs.settings import JobsSettings


@pytest.fixture
def fake_gen() -> Iterator[ServerThread]:
    server = ServerThread(fake_generation.create_app()).start()
    yield server
    server.stop()


@pytest.fixture
def jobs_server(tmp_path: Path, fake_gen: ServerThread) -> Iterator[JobsFactory]:
    """``jobs_server(**settings)`` starts a jobs service wired to the fake generation service."""
    started: list[ServerThread] = []

    def start(**overrides: Any) -> ServerThread:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "generation_service_url": fake_gen.url,
            "log_json": False,
            "log_level": "WARNING",
            "heartbeat_s": 5.0,
        }
        values.update(overrides)
        server = ServerThread(create_app(JobsSettings(**values))).start()
        started.append(server)
        fake_generation.ASSET_URLS.append(server.url)
        return server

    yield start
    for server in started:
        server.stop()
    fake_generation.ASSET_URLS.clear()


@pytest.fixture
def jobs(jobs_server: JobsFactory) -> ServerThread:
    """A jobs service with default settings."""
    return jobs_server()
