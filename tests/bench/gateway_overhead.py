"""What the gateway costs: the same calls direct to image-utils and through the gateway.

    python tests/bench/gateway_overhead.py [--quick] [--rounds N]

Starts a real image-utils process and a real gateway process in front of it (loopback ports, a
service token, the rate limit off), then measures a small call (extract-object on a 16x16 image)
and extract-object on a ~4 MB PNG, at concurrency 1 and 32: p50, p99, requests per second, the
gateway/direct ratios, and the gateway process's CPU time per request (which, unlike latency, does
not depend on what else the machine is running). At concurrency 1 each call goes direct and through
the gateway back to back, and "paired +" is the median of those pairs' differences. Direct and gateway rounds alternate so that load from elsewhere on the
machine hits both alike. Prints a table and writes bench-results/gateway_overhead.json.

Goals (issue 2): the gateway adds at most 1 ms to the small call's p50 at concurrency 1, and at
most 10% to the 4 MB call's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
# The tests' shared helpers (tests/loopback.py) are importable from a bench script too.
sys.path.insert(0, str(ROOT / "tests"))
from loopback import free_port  # noqa: E402

RESULTS = ROOT / "bench-results" / "gateway_overhead.json"
TOKEN = "bench-service-token"
PATH = "/api/image-utils/extract-object"


@dataclass
class Case:
    """One workload: a name, its request body, and how many requests to time per round."""

    name: str
    body: bytes
    concurrency: int
    requests: int


@dataclass
class Result:
    """Latencies of one workload against one target (direct or through the gateway)."""

    case: str
    target: str
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    req_per_s: float
    #: CPU time the gateway process spent per request (gateway rounds only; Linux /proc).
    gateway_cpu_ms: float | None = None
    #: Concurrency 1 only: median of (gateway - direct) over back-to-back pairs of calls.
    paired_added_ms: float | None = None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (``None`` where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo_like(width: int, height: int, seed: int = 7) -> Image.Image:
    """Smooth gradients plus sensor-like noise: compresses about as badly as a photo does."""
    rng = random.Random(seed)
    noise = rng.randbytes(width * height * 3)
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    grain = Image.frombytes("RGB", (width, height), noise)
    return Image.blend(base, grain, 0.2)


def mask_for(width: int, height: int) -> bytes:
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).ellipse((width // 4, height // 5, width * 3 // 4, height * 4 // 5), fill=255)
    return png_bytes(mask)


def extract_body(image: bytes, mask: bytes) -> bytes:
    return json.dumps({"image": base64.b64encode(image).decode(), "mask": base64.b64encode(mask).decode()}).encode()


def start(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "retouch.runtime.serve", factory, "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"{url} exited with {process.returncode}:\n{stderr}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become healthy within {timeout} s")


async def run_round(client: httpx.AsyncClient, case: Case, headers: dict[str, str]) -> tuple[list[float], float]:
    """``case.requests`` calls with ``case.concurrency`` in flight; per-call seconds and wall time."""
    latencies: list[float] = []
    remaining = case.requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            response = await client.post(PATH, content=case.body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{case.name}: HTTP {response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(case.concurrency)))
    return latencies, time.perf_counter() - started


async def run_paired(
    clients: dict[str, httpx.AsyncClient], case: Case, targets: dict[str, dict[str, str]]
) -> dict[str, list[float]]:
    """Concurrency 1: each call direct and through the gateway back to back (alternating which goes
    first), so both see the same machine load; per-target seconds, in pairs."""
    latencies: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for index in range(case.requests):
        for name in names if index % 2 == 0 else reversed(names):
            started = time.perf_counter()
            response = await clients[name].post(PATH, content=case.body, headers=targets[name])
            latencies[name].append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{case.name}: HTTP {response.status_code}: {response.text[:300]}")
    return latencies


def summarize(case: Case, target: str, latencies: list[float], wall: float) -> Result:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Result(
        case=case.name,
        target=target,
        concurrency=case.concurrency,
        requests=len(latencies),
        p50_ms=round(statistics.median(ordered) * 1000, 3),
        p99_ms=round(p99 * 1000, 3),
        mean_ms=round(statistics.fmean(ordered) * 1000, 3),
        req_per_s=round(len(latencies) / wall, 1),
    )


async def measure(cases: list[Case], urls: dict[str, str], rounds: int, gateway_pid: int) -> list[Result]:
    headers = {"content-type": "application/json"}
    targets = {"direct": {**headers, "x-service-token": TOKEN}, "gateway": headers}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    results: list[Result] = []
    clients = {name: httpx.AsyncClient(base_url=url, limits=limits, timeout=300) for name, url in urls.items()}
    try:
        for case in cases:
            warm = Case(case.name, case.body, case.concurrency, max(case.concurrency, min(case.requests, 20)))
            for name, client in clients.items():
                await run_round(client, warm, targets[name])
            samples: dict[str, list[float]] = {name: [] for name in clients}
            walls: dict[str, float] = dict.fromkeys(clients, 0.0)
            gateway_cpu: float | None = 0.0
            for index in range(rounds):
                if case.concurrency == 1:
                    before = cpu_seconds(gateway_pid)
                    paired = await run_paired(clients, case, targets)
                    after = cpu_seconds(gateway_pid)
                    for name, latencies in paired.items():
                        samples[name].extend(latencies)
                        walls[name] += sum(latencies)
                    if gateway_cpu is not None:
                        gateway_cpu = None if before is None or after is None else gateway_cpu + after - before
                    continue
                # Alternate which target goes first, so drift in machine load favours neither.
                order = list(clients) if index % 2 == 0 else list(reversed(clients))
                for name in order:
                    before = cpu_seconds(gateway_pid)
                    latencies, wall = await run_round(clients[name], case, targets[name])
                    after = cpu_seconds(gateway_pid)
                    samples[name].extend(latencies)
                    walls[name] += wall
                    if name == "gateway" and gateway_cpu is not None:
                        gateway_cpu = None if before is None or after is None else gateway_cpu + after - before
            for name in clients:
                result = summarize(case, name, samples[name], walls[name])
                if name == "gateway" and gateway_cpu is not None:
                    result.gateway_cpu_ms = round(gateway_cpu / result.requests * 1000, 3)
                if name == "gateway" and case.concurrency == 1:
                    pairs = [g - d for g, d in zip(samples["gateway"], samples["direct"], strict=True)]
                    result.paired_added_ms = round(statistics.median(pairs) * 1000, 3)
                results.append(result)
                print(f"  measured {case.name} c={case.concurrency} {name}", file=sys.stderr)
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def compare(results: list[Result]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    keyed = {(r.case, r.concurrency, r.target): r for r in results}
    for (case, concurrency, target), direct in keyed.items():
        if target != "direct":
            continue
        gateway = keyed[(case, concurrency, "gateway")]
        rows.append(
            {
                "case": case,
                "concurrency": concurrency,
                "direct_p50_ms": direct.p50_ms,
                "gateway_p50_ms": gateway.p50_ms,
                "added_p50_ms": round(gateway.p50_ms - direct.p50_ms, 3),
                "p50_ratio": round(gateway.p50_ms / direct.p50_ms, 3),
                "direct_p99_ms": direct.p99_ms,
                "gateway_p99_ms": gateway.p99_ms,
                "p99_ratio": round(gateway.p99_ms / direct.p99_ms, 3),
                "direct_req_per_s": direct.req_per_s,
                "gateway_req_per_s": gateway.req_per_s,
                "throughput_ratio": round(gateway.req_per_s / direct.req_per_s, 3),
                "gateway_cpu_ms_per_request": gateway.gateway_cpu_ms,
                "paired_added_p50_ms": gateway.paired_added_ms,
            }
        )
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    header = (
        f"{'case':<10} {'conc':>4} | {'direct p50':>10} {'gw p50':>9} {'added':>8} {'ratio':>6} | "
        f"{'direct p99':>10} {'gw p99':>9} {'ratio':>6} | {'direct r/s':>10} {'gw r/s':>8} {'ratio':>6} | "
        f"{'gw cpu/req':>10} {'paired +':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['case']:<10} {row['concurrency']:>4} | {row['direct_p50_ms']:>8.2f}ms {row['gateway_p50_ms']:>7.2f}ms "
            f"{row['added_p50_ms']:>+6.2f}ms {row['p50_ratio']:>6.3f} | {row['direct_p99_ms']:>8.2f}ms "
            f"{row['gateway_p99_ms']:>7.2f}ms {row['p99_ratio']:>6.3f} | {row['direct_req_per_s']:>10.1f} "
            f"{row['gateway_req_per_s']:>8.1f} {row['throughput_ratio']:>6.3f} | "
            f"{_ms(row['gateway_cpu_ms_per_request']):>10} {_ms(row['paired_added_p50_ms']):>9}"
        )


def _ms(value: object) -> str:
    return "n/a" if value is None else f"{value:.3f}ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per target (default 4)")
    parser.add_argument("--case", choices=["small", "4MB"], help="run only this workload")
    args = parser.parse_args()

    small_image = photo_like(16, 16)
    small = extract_body(png_bytes(small_image), mask_for(16, 16))
    big_image = png_bytes(photo_like(1500, 1125))
    big = extract_body(big_image, mask_for(1500, 1125))
    scale = 0.2 if args.quick else 1.0
    cases = [
        Case("small", small, 1, int(250 * scale)),
        Case("small", small, 32, int(1000 * scale)),
        Case("4MB", big, 1, max(3, int(15 * scale))),
        Case("4MB", big, 32, 32),
    ]
    cases = [case for case in cases if args.case in (None, case.name)]
    print(f"4 MB case: PNG {len(big_image) / 1e6:.2f} MB, request body {len(big) / 1e6:.2f} MB", file=sys.stderr)

    ports = {"image_utils": free_port(), "gateway": free_port()}
    common = {"RETOUCH_SERVICE_TOKEN": TOKEN, "RETOUCH_LOG_LEVEL": "WARNING"}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    processes = []
    try:
        image_utils = start("retouch.image_utils.app:create_app", ports["image_utils"], common)
        processes.append(image_utils)
        wait_healthy(urls["image_utils"], image_utils)
        gateway_env = {**common, "IMAGE_UTILS_SERVICE_URL": urls["image_utils"], "RETOUCH_RATE_LIMIT_PER_MINUTE": "0"}
        gateway = start("retouch.gateway.app:create_app", ports["gateway"], gateway_env)
        processes.append(gateway)
        wait_healthy(urls["gateway"], gateway)
        targets = {"direct": urls["image_utils"], "gateway": urls["gateway"]}
        results = asyncio.run(measure(cases, targets, args.rounds, gateway.pid))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    rows = compare(results)
    print_table(rows)
    goals: dict[str, bool] = {}
    for row in rows:
        if row["case"] == "small" and row["concurrency"] == 1:
            goals["small_c1_added_p50_ms_at_most_1"] = float(row["added_p50_ms"]) <= 1.0  # type: ignore[arg-type]
        if row["case"] == "4MB" and row["concurrency"] == 1:
            goals["4MB_c1_p50_ratio_at_most_1.10"] = float(row["p50_ratio"]) <= 1.10  # type: ignore[arg-type]
    print("goals:", ", ".join(f"{name}={'met' if met else 'MISSED'}" for name, met in goals.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "gateway_overhead",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "big_png_bytes": len(big_image),
        "big_request_bytes": len(big),
        "rounds": args.rounds,
        "comparison": rows,
        "results": [asdict(result) for result in results],
        "goals": goals,
    }
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
