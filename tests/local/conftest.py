"""Fixtures for the local-stack tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retouch.local import Stack


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Stacks a test appends here are stopped afterwards, even when it fails."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()
