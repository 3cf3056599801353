"""The gateway's upstream transport, decided by measurement: its own pool (``pool.py``, httptools on
asyncio protocols) against aiohttp's client and httpx, on the calls the gateway relays.

    python tests/bench/gateway_transport.py [--requests N]

A loopback upstream in another process (uvicorn, so the three clients share nothing with it)
answers ``POST /echo`` with a body of the size asked for. Each client, in this process, sends the
same requests: a small call (200 B up, 200 B down) and the 4 MB path (4 MB up, 4 MB down), at
concurrency 1 and 8, each reading the whole answer. Reports p50 latency and this process's CPU time
per request, and each client's ratio to the pool measured in the same run (rounds alternate, so
load from elsewhere hits all three alike). Writes bench-results/gateway_transport.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from loopback import free_port  # noqa: E402

UPSTREAM = """
import uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    answer = int(dict(scope["headers"]).get(b"x-answer-size", b"200"))
    body = b"x" * answer
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(answer).encode())]})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning", http="httptools")
"""

Call = Callable[[bytes, int], Awaitable[int]]


async def pool_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from retouch.gateway.pool import ConnectionPool

    pool = ConnectionPool(url, max_connections=64, connect_timeout_s=5.0, keepalive_expiry_s=4.0)

    async def call(body: bytes, answer: int) -> int:
        headers = [(b"content-type", b"application/json"), (b"x-answer-size", str(answer).encode())]
        response = await pool.request(b"POST", b"/echo", headers, body, timeout_s=30.0, replayable=True)
        size = 0
        try:
            while not response.finished:
                size += len(await response.read(30.0))
        finally:
            response.close()
        return size

    async def close() -> None:
        pool.close()

    return call, close


async def aiohttp_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), auto_decompress=False)

    async def call(body: bytes, answer: int) -> int:
        headers = {"content-type": "application/json", "x-answer-size": str(answer)}
        async with session.post(f"{url}/echo", data=body, headers=headers) as response:
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
            return size

    return call, session.close


async def httpx_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=64), timeout=30.0)

    async def call(body: bytes, answer: int) -> int:
        headers = {"content-type": "application/json", "x-answer-size": str(answer)}
        async with client.stream("POST", "/echo", content=body, headers=headers) as response:
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
            return size

    return call, client.aclose


CLIENTS = {"pool": pool_client, "aiohttp": aiohttp_client, "httpx": httpx_client}
CASES = {"small": (200, 200), "4MB": (4 * 1024 * 1024, 4 * 1024 * 1024)}


async def measure(call: Call, size_up: int, size_down: int, requests: int, concurrency: int) -> tuple[float, float]:
    """p50 latency (ms) and CPU ms per request of this process."""
    body = b"y" * size_up
    latencies: list[float] = []
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            queue.pop()
            began = time.perf_counter()
            assert await call(body, size_down) == size_down
            latencies.append((time.perf_counter() - began) * 1000)

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statistics.median(latencies), (time.process_time() - cpu) * 1000 / requests


async def main_async(requests: int, rounds: int) -> dict[str, object]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(port)])  # noqa: ASYNC220 - once, at start
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        clients = {name: await factory(url) for name, factory in CLIENTS.items()}
        results: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for case, (up, down) in CASES.items():
            for concurrency in (1, 8):
                key = f"{case} c={concurrency}"
                count = requests if case == "small" else max(8, requests // 10)
                for call, _ in clients.values():  # warm the connections
                    await measure(call, up, down, concurrency, concurrency)
                for _ in range(rounds):
                    for name, (call, _) in clients.items():
                        results.setdefault(key, {}).setdefault(name, []).append(
                            await measure(call, up, down, count, concurrency)
                        )
        for _, close in clients.values():
            await close()
    finally:
        server.terminate()
        server.wait(10)
    report: dict[str, object] = {}
    print(f"{'case':<12} {'client':<8} {'p50 ms':>9} {'cpu ms/req':>11} {'p50 / pool':>11} {'cpu / pool':>11}")
    for key, by_client in results.items():
        base_p50 = statistics.median(p for p, _ in by_client["pool"])
        base_cpu = statistics.median(c for _, c in by_client["pool"])
        for name, samples in by_client.items():
            p50 = statistics.median(p for p, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            print(f"{key:<12} {name:<8} {p50:9.3f} {cpu:11.3f} {p50 / base_p50:11.2f} {cpu / base_cpu:11.2f}")
            report[f"{key} {name}"] = {"p50_ms": p50, "cpu_ms_per_request": cpu, "p50_vs_pool": p50 / base_p50}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="small requests per round (4 MB: a tenth)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per client")
    args = parser.parse_args()
    report = asyncio.run(main_async(args.requests, args.rounds))
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "gateway_transport.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
