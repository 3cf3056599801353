"""The real local stack the seed system's web client is pointed at: every service as a process on
loopback ports behind the gateway, with API keys configured AND anonymous access enabled for the
client's origin (the deployment README's setting), classic engines; and a second stack whose
generation service runs the tiny qwen pipeline (a multi-step engine) for progress and cancel."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from seed_client import API_KEY, ORIGIN, SeedClient

from retouch.local import Stack, StackSettings

TINY_QWEN = Path(__file__).resolve().parents[1] / "generation" / "tiny_qwen.py"


def _env(**extra: str) -> dict[str, str]:
    return {
        "RETOUCH_LOG_LEVEL": "warning",
        "RETOUCH_ANONYMOUS_ORIGINS": ORIGIN,
        # Generous per-address limits for the flows; the limit test uses its own addresses.
        "RETOUCH_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "600",
        "RETOUCH_ANONYMOUS_RATE_LIMIT_BURST": "100",
        **extra,
    }


def _start(root: Path, env: dict[str, str], **settings: object) -> Stack:
    log = (root / "stack.log").open("w")
    stack = Stack(
        StackSettings(
            port=0,
            data_dir=root / "data",
            api_keys=API_KEY,
            env=env,
            log_stream=log,
            startup_timeout_s=240.0,
            stop_timeout_s=10.0,
            **settings,  # type: ignore[arg-type]
        )
    )
    try:
        stack.start()
    except Exception as exc:
        log.close()
        pytest.fail(f"the local stack did not start: {exc} (logs: {root / 'stack.log'})")
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every installed service with its default (classic) engines."""
    stack = _start(tmp_path_factory.mktemp("compat-stack"), _env())
    yield stack
    stack.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[SeedClient]:
    """The seed client's API layer pointed at the gateway (NEXT_PUBLIC_API_GATEWAY_URL)."""
    seed = SeedClient(stack.gateway_url)
    yield seed
    seed.close()


@pytest.fixture(scope="module")
def qwen_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Gateway, jobs and a generation service on the tiny qwen pipeline (built here, offline)."""
    pytest.importorskip("diffusers")
    spec = importlib.util.spec_from_file_location("tiny_qwen", TINY_QWEN)
    assert spec is not None and spec.loader is not None, f"{TINY_QWEN} is missing"
    tiny_qwen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny_qwen)
    env = tiny_qwen.build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))
    # A larger working frame than the model's own tests: steps take long enough to cancel between.
    env["RETOUCH_GENERATION_WORKING_SIZE"] = "256"
    stack = _start(tmp_path_factory.mktemp("compat-qwen"), _env(**env), only=("generation", "job_manager"))
    yield stack
    stack.stop()
