"""What the jobs service sustains: submissions per second, submit-to-running latency, SSE fan-out.

    python tests/bench/jobs.py [--quick]

1. Submissions: a real generation service (classic engine) and a real jobs process on loopback;
   N removal submissions (64x48 PNG + mask, each with an Idempotency-Key, as the SDK sends them) at
   concurrency 16, while the jobs run. Baseline, in the same run: the same rows (read back from
   the service's database) inserted into a fresh SQLite database in WAL mode with the service's
   schema, one commit per row, from one thread. Reported: both rates and their ratio.
2. Submit to running on an idle queue, one job at a time: the service's own timestamps
   (``started_at - created_at``) and what a client sees (POST sent -> an event saying ``processing``
   or later), p50/p99.
3. Fan-out: 200 SSE subscribers on one job (a fake generation service streams 30 steps, so the
   job changes often; the jobs service does not care which engine talks), all attached while it
   waits in the queue; each must receive every event, identical, ending in one terminal event.
   Reported: events per subscriber, and the spread between the first and the last subscriber
   receiving the terminal event.

Prints a table and writes bench-results/jobs.json.
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
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from retouch.jobs.store_sqlite import _INSERT, SCHEMA

ROOT = Path(__file__).resolve().parents[2]
# The tests' shared helpers (tests/loopback.py) are importable from a bench script too.
sys.path.insert(0, str(ROOT / "tests"))
from loopback import free_port  # noqa: E402

RESULTS = ROOT / "bench-results" / "jobs.json"
FAKE_DIR = ROOT / "tests" / "jobs"


def png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def removal_body(prompt: str = "") -> bytes:
    rng = random.Random(3)
    picture = Image.frombytes("RGB", (64, 48), bytes(rng.randrange(256) for _ in range(64 * 48 * 3)))
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (24, 16, 40, 32))
    return json.dumps(
        {"prompt": prompt, "task_type": "removal", "input_image": png(picture), "mask": png(mask)}
    ).encode()


def start(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    full = {**os.environ, "RETOUCH_LOG_LEVEL": "WARNING", "RETOUCH_LOG_JSON": "false", **env}
    full["PYTHONPATH"] = os.pathsep.join([str(FAKE_DIR), full.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "retouch.runtime.serve", factory, "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_idle(client: httpx.AsyncClient, task_ids: list[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    pending = list(task_ids)
    while pending and time.monotonic() < deadline:
        status = (await client.get(f"/api/generate/status/{pending[-1]}")).json()["status"]
        if status in ("done", "error", "cancelled"):
            pending.pop()
        else:
            await asyncio.sleep(0.05)
    if pending:
        raise RuntimeError("jobs did not finish")


async def submissions(url: str, count: int, concurrency: int) -> dict[str, Any]:
    payload = removal_body()
    latencies: list[float] = []
    task_ids: list[str] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        queue = list(range(count))

        async def worker() -> None:
            while queue:
                queue.pop()
                headers = {"content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
                started = time.perf_counter()
                response = await client.post("/api/generate/async", content=payload, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
                task_ids.append(response.json()["task_id"])

        wall = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - wall
        await wait_idle(client, task_ids)
        failed = 0
        for task_id in task_ids[:: max(1, len(task_ids) // 50)]:
            failed += (await client.get(f"/api/generate/status/{task_id}")).json()["status"] != "done"
    return {
        "submissions": count,
        "concurrency": concurrency,
        "wall_s": wall,
        "per_s": count / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "sampled_jobs_not_done": failed,
        "task_ids": task_ids,
    }


def raw_inserts(database: Path, task_ids: list[str]) -> dict[str, Any]:
    with sqlite3.connect(database) as source:
        marks = ",".join("?" * len(task_ids))
        rows = source.execute(
            "SELECT task_id, owner, idempotency_key, status, seq, created_at, finished_at, data"
            f" FROM jobs WHERE task_id IN ({marks})",
            task_ids,
        ).fetchall()
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        started = time.perf_counter()
        for row in rows:
            conn.execute(_INSERT, row)
        wall = time.perf_counter() - started
        conn.close()
    return {
        "rows": len(rows),
        "wall_s": wall,
        "per_s": len(rows) / wall,
        "bytes_per_row": sum(len(r[7]) for r in rows) / len(rows),
    }


async def submit_to_running(url: str, count: int) -> dict[str, Any]:
    payload = removal_body()
    server: list[float] = []
    client_seen: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.post(
                "/api/generate/async", content=payload, headers={"content-type": "application/json"}
            )
            task_id = response.json()["task_id"]
            async with client.stream("GET", f"/api/generate/stream/{task_id}") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:") and json.loads(line[5:])["status"] != "queued":
                        client_seen.append(time.perf_counter() - started)
                        break
            await wait_idle(client, [task_id])
            status = (await client.get(f"/api/generate/status/{task_id}")).json()
            created = datetime_s(status["created_at"])
            server.append(datetime_s(status["started_at"]) - created)
    return {
        "jobs": count,
        "server_p50_ms": statistics.median(server) * 1000,
        "server_p99_ms": pct(server, 0.99) * 1000,
        "client_p50_ms": statistics.median(client_seen) * 1000,
        "client_p99_ms": pct(client_seen, 0.99) * 1000,
    }


def datetime_s(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def fan_out(url: str, subscribers: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=subscribers + 8, max_keepalive_connections=subscribers + 8)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        headers = {"content-type": "application/json"}
        blocker = (
            await client.post("/api/generate/async", content=removal_body("steps=100000 delay=0.01"), headers=headers)
        ).json()["task_id"]
        for _ in range(3000):
            if (await client.get(f"/api/generate/status/{blocker}")).json()["status"] == "processing":
                break
            await asyncio.sleep(0.02)
        task_id = (
            await client.post("/api/generate/async", content=removal_body("steps=30 delay=0.02"), headers=headers)
        ).json()["task_id"]
        attached = asyncio.Event()
        ready = 0
        received: list[list[tuple[str, str]]] = [[] for _ in range(subscribers)]
        terminal_at: list[float] = [0.0] * subscribers

        async def subscriber(index: int) -> None:
            nonlocal ready
            async with client.stream("GET", f"/api/generate/stream/{task_id}") as stream:
                event_id = ""
                async for line in stream.aiter_lines():
                    if line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:])
                        received[index].append((event_id, data["type"]))
                        if len(received[index]) == 1:
                            ready += 1
                            if ready == subscribers:
                                attached.set()
                        if data["type"] in ("done", "error", "cancelled"):
                            terminal_at[index] = time.perf_counter()

        tasks = [asyncio.create_task(subscriber(i)) for i in range(subscribers)]
        await asyncio.wait_for(attached.wait(), 120)
        await client.post(f"/api/generate/async/cancel/{blocker}")
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
    reference = received[0]
    identical = all(r == reference for r in received)
    steps_seen = sum(1 for _, kind in reference if kind == "progress")
    terminal = [kind for _, kind in reference if kind in ("done", "error", "cancelled")]
    return {
        "subscribers": subscribers,
        "events_per_subscriber": len(reference),
        "progress_events": steps_seen,
        "all_identical": identical,
        "terminal_events": terminal,
        "terminal_spread_ms": (max(terminal_at) - min(terminal_at)) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer submissions and latency samples")
    args = parser.parse_args()
    count, samples = (100, 10) if args.quick else (400, 30)

    processes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as data:
            gen_port, jobs_port, fake_port, fan_port = free_port(), free_port(), free_port(), free_port()
            gen_url, jobs_url = f"http://127.0.0.1:{gen_port}", f"http://127.0.0.1:{jobs_port}"
            fake_url, fan_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{fan_port}"
            processes.append(
                start("retouch.generation.app:create_app", gen_port, {"RETOUCH_GENERATION_ENGINE": "classic"})
            )
            processes.append(start("fake_generation:create_app", fake_port, {}))
            jobs_env = {"RETOUCH_DATA_DIR": f"{data}/classic", "GENERATION_SERVICE_URL": gen_url}
            processes.append(start("retouch.jobs.app:create_app", jobs_port, jobs_env))
            fan_env = {"RETOUCH_DATA_DIR": f"{data}/fan", "GENERATION_SERVICE_URL": fake_url}
            processes.append(start("retouch.jobs.app:create_app", fan_port, fan_env))
            for url, process in zip((gen_url, fake_url, jobs_url, fan_url), processes, strict=True):
                wait_healthy(url, process)

            subs = asyncio.run(submissions(jobs_url, count, 16))
            raw = raw_inserts(Path(data) / "classic" / "jobs" / "jobs.sqlite3", subs.pop("task_ids"))
            latency = asyncio.run(submit_to_running(jobs_url, samples))
            fan = asyncio.run(fan_out(fan_url, 200))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()

    ratio = subs["per_s"] / raw["per_s"]
    rows = [
        (
            "submissions through the jobs service",
            f"{subs['per_s']:.0f}/s",
            f"p50 {subs['p50_ms']:.1f} ms, p99 {subs['p99_ms']:.1f} ms, c=16",
        ),
        (
            "raw SQLite inserts of the same rows",
            f"{raw['per_s']:.0f}/s",
            f"{raw['rows']} rows, {raw['bytes_per_row']:.0f} B each, commit per row",
        ),
        ("service / raw", f"{ratio:.4f}", f"raw is {1 / ratio:.0f}x faster"),
        (
            "submit -> running, server clock",
            f"p50 {latency['server_p50_ms']:.2f} ms",
            f"p99 {latency['server_p99_ms']:.2f} ms, idle queue",
        ),
        (
            "submit -> running, client sees it",
            f"p50 {latency['client_p50_ms']:.1f} ms",
            f"p99 {latency['client_p99_ms']:.1f} ms (POST + SSE connect)",
        ),
        (
            f"{fan['subscribers']} SSE subscribers, one job",
            "all identical" if fan["all_identical"] else "DIFFER",
            f"{fan['events_per_subscriber']} events each ({fan['progress_events']} progress), terminal {fan['terminal_events']}, spread {fan['terminal_spread_ms']:.1f} ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>16}  detail")
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:>16}  {detail}")
    report = {
        "benchmark": "jobs",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "submissions": subs,
        "raw_sqlite": raw,
        "service_over_raw_ratio": ratio,
        "submit_to_running": latency,
        "fan_out": fan,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    ok = fan["all_identical"] and fan["terminal_events"] == ["done"] and subs["sampled_jobs_not_done"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
