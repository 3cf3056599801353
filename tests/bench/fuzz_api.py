"""Schema fuzzing of the public API: schemathesis against the gateway's ``/api/openapi.json``.

    python tests/bench/fuzz_api.py [--examples N] [--seconds S]

Starts the whole stack on loopback (classic and grabcut engines, a small body limit, API keys
off), loads the OpenAPI document the gateway publishes, and for every operation sends up to
``--examples`` generated requests (valid and invalid bodies, paths and query strings) within an
overall budget of ``--seconds``. Any 5xx other than a 503 that names a missing service, or a
connection that breaks, is a failure: the run exits 1 and lists them. Prints a table (operation,
requests, answers by status class) and writes bench-results/fuzz_api.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings

from retouch.local import Stack, StackSettings

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results" / "fuzz_api.json"
#: Operations whose generated requests would only wait (a stream of a job that never ends, or the
#: synchronous form that waits for its result) are called with a short client timeout.
CLIENT_TIMEOUT_S = 20.0


def _fuzz_operation(
    operation: Any,
    label: str,
    counts: collections.Counter[str],
    failures: list[dict[str, Any]],
    examples: int,
    deadline: float,
) -> None:
    @given(case=operation.as_strategy())
    @hsettings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        try:
            response = case.call(timeout=CLIENT_TIMEOUT_S)
        except Exception as exc:  # a broken connection or a timeout: the server failed us
            counts["error"] += 1
            failures.append({"operation": label, "error": f"{type(exc).__name__}: {exc}"[:300]})
            return
        counts[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures.append(
                {
                    "operation": label,
                    "status": response.status_code,
                    "body": response.text[:300],
                    "request": {"path": case.formatted_path, "query": case.query, "body": repr(case.body)[:300]},
                }
            )

    run()


def _fuzz(gateway: str, examples: int, budget_s: float) -> dict[str, Any]:
    schema = schemathesis.openapi.from_url(f"{gateway}/api/openapi.json")
    deadline = time.monotonic() + budget_s
    per_operation: dict[str, collections.Counter[str]] = {}
    failures: list[dict[str, Any]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        counts: collections.Counter[str] = collections.Counter()
        per_operation[label] = counts
        if time.monotonic() > deadline:
            counts["skipped (budget)"] += 1
            continue

        _fuzz_operation(operation, label, counts, failures, examples, deadline)
    return {"operations": {k: dict(v) for k, v in per_operation.items()}, "failures": failures}


def main() -> int:
    """Run the fuzzing; 0 when no request got a 5xx."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=60, help="generated requests per operation")
    parser.add_argument("--seconds", type=float, default=300.0, help="overall budget")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retouch-fuzz-") as tmp:
        settings = StackSettings(
            port=0,
            data_dir=Path(tmp) / "data",
            api_keys="",
            env={"RETOUCH_MAX_BODY_BYTES": str(2 * 1024 * 1024), "RETOUCH_JOBS_SYNC_WAIT_SECONDS": "5"},
            log_stream=(Path(tmp) / "stack.log").open("w"),
            startup_timeout_s=180.0,
        )
        started = time.monotonic()
        with Stack(settings) as stack:
            report = _fuzz(stack.gateway_url, args.examples, args.seconds)
            stack.check()
        report["seconds"] = round(time.monotonic() - started, 1)
    report["examples_per_operation"] = args.examples
    report["hypothesis"] = hypothesis.__version__
    report["schemathesis"] = schemathesis.__version__
    print(f"{'operation':<52}{'requests':>9}  answers")
    for label, counts in report["operations"].items():
        total = sum(counts.values())
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(f"{label:<52}{total:>9}  {answers}")
    failures = report["failures"]
    print(f"\n{len(failures)} server errors in {report['seconds']} s")
    for failure in failures[:20]:
        print(f"  {failure}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
