"""Settings the e2e stack runs with (shared by the fixtures and the tests)."""

from __future__ import annotations

#: Small enough that a test can exceed it cheaply; large enough for the test images.
MAX_BODY_BYTES = 1_000_000
#: The keys of the second gateway (``keyed_gateway``).
API_KEYS = ("e2e-key-one", "e2e-key-two")
