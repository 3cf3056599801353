"""Fault tests: the real stack on loopback, with services killed, restarted and starved of disk."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from retouch.local import Stack


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Stacks a test appends here are stopped afterwards, even when it fails."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()
