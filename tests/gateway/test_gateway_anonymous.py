"""Anonymous browser callers next to API keys (API.md, Access): allowed origins only, an owner per
client address and origin, a rate limit and a job quota per address; keyed callers unaffected."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from gateway_fakes import PROBLEM_JSON, FakeService, gateway_settings

from retouch.gateway.anonymous import AnonymousAccess
from retouch.gateway.app import create_app
from retouch.gateway.settings import GatewaySettings
from retouch.runtime.settings import SettingsError, load_settings

KEY = "alpha-key-0123456789"
SEED = "https://editor.example"
Clients = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def make(fakes: dict[str, FakeService]) -> AsyncIterator[Callable[..., Any]]:
    """``await make(**settings)`` -> ``client(address)``: clients of one gateway, each from its own
    client address."""
    async with contextlib.AsyncExitStack() as stack:

        async def build(**overrides: Any) -> Clients:
            app = create_app(gateway_settings(fakes, api_keys=[KEY], anonymous_origins=[SEED], **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))

            def client(address: str) -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(address, 40000))
                return httpx.AsyncClient(transport=transport, base_url="http://gateway")

            return client

        yield build


def owner_seen(fake: FakeService) -> str:
    return fake.seen[-1].headers["x-retouch-owner"]


async def test_an_allowed_origin_calls_without_a_key(make: Callable[..., Any], fakes: dict[str, FakeService]) -> None:
    client = await make()
    async with client("10.0.0.1") as page:
        response = await page.post("/api/smart-mask", json={}, headers={"origin": SEED})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == SEED
        anonymous = owner_seen(fakes["segmentation"])
        assert anonymous.startswith("anon-")
        assert (await page.get("/api/generate/status/t1", headers={"origin": SEED})).status_code == 200
        assert owner_seen(fakes["job_manager"]) == anonymous, "the same page is the same owner everywhere"


@pytest.mark.parametrize(
    "headers",
    [{}, {"origin": "https://evil.example"}, {"origin": SEED, "authorization": "Bearer wrong"}],
    ids=["no origin", "other origin", "wrong key"],
)
async def test_other_keyless_calls_still_need_a_key(
    make: Callable[..., Any], fakes: dict[str, FakeService], headers: dict[str, str]
) -> None:
    client = await make()
    async with client("10.0.0.1") as page:
        response = await page.get("/api/generate/status/t1", headers=headers)
    assert response.status_code == 401 and response.headers["content-type"] == PROBLEM_JSON
    assert not fakes["job_manager"].seen


async def test_owners_differ_per_address_and_from_keyed_callers(
    make: Callable[..., Any], fakes: dict[str, FakeService]
) -> None:
    client = await make()
    owners = []
    for address in ("10.0.0.1", "10.0.0.2"):
        async with client(address) as page:
            assert (await page.get("/api/generate/status/t1", headers={"origin": SEED})).status_code == 200
            owners.append(owner_seen(fakes["job_manager"]))
    async with client("10.0.0.1") as keyed:
        headers = {"origin": SEED, "authorization": f"Bearer {KEY}"}
        assert (await keyed.get("/api/generate/status/t1", headers=headers)).status_code == 200
        owners.append(owner_seen(fakes["job_manager"]))
    assert len(set(owners)) == 3 and not owners[2].startswith("anon-")
    # The owner comes from the address and origin; a header the caller sends cannot choose it.
    async with client("10.0.0.1") as page:
        await page.get("/api/generate/status/t1", headers={"origin": SEED, "x-retouch-owner": owners[2]})
        assert owner_seen(fakes["job_manager"]) == owners[0]


async def test_anonymous_calls_are_rate_limited_per_address(
    make: Callable[..., Any], fakes: dict[str, FakeService]
) -> None:
    client = await make(anonymous_rate_limit_per_minute=6, anonymous_rate_limit_burst=3)
    async with client("10.0.0.1") as page:
        for _ in range(3):
            assert (await page.get("/api/generate/status/t1", headers={"origin": SEED})).status_code == 200
        limited = await page.get("/api/generate/status/t1", headers={"origin": SEED})
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 10
        assert "anonymous" in limited.json()["detail"]
    async with client("10.0.0.2") as other:
        assert (await other.get("/api/generate/status/t1", headers={"origin": SEED})).status_code == 200
    async with client("10.0.0.1") as keyed:
        headers = {"authorization": f"Bearer {KEY}"}
        assert (await keyed.get("/api/generate/status/t1", headers=headers)).status_code == 200, "keys unaffected"


async def test_the_job_quota_counts_submissions_per_address(
    make: Callable[..., Any], fakes: dict[str, FakeService]
) -> None:
    client = await make(anonymous_jobs_per_hour=2)
    async with client("10.0.0.1") as page:
        for _ in range(2):
            assert (await page.post("/api/generate/async", json={}, headers={"origin": SEED})).status_code == 200
        refused = await page.post("/api/generate/async", json={}, headers={"origin": SEED})
        assert refused.status_code == 429 and "quota" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        # Reading is not a job: still served.
        assert (await page.get("/api/generate/status/t1", headers={"origin": SEED})).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"anonymous_origins": ["editor.example"]},
        {"anonymous_origins": ["https://editor.example/path"]},
        {"anonymous_rate_limit_per_minute": -1},
        {"anonymous_jobs_per_hour": -5},
        {"anonymous_rate_limit_burst": 0},
    ],
)
def test_bad_anonymous_settings_fail_at_start(overrides: dict[str, Any]) -> None:
    with pytest.raises(SettingsError, match="ANONYMOUS"):
        GatewaySettings(log_json=False, **overrides)


def test_the_settings_come_from_the_environment() -> None:
    environ = {"RETOUCH_ANONYMOUS_ORIGINS": f"{SEED},http://localhost:3000", "RETOUCH_ANONYMOUS_JOBS_PER_HOUR": "5"}
    settings = load_settings(GatewaySettings, environ=environ)
    assert settings.anonymous_origins == [SEED, "http://localhost:3000"] and settings.anonymous_jobs_per_hour == 5


async def test_system_health_is_open_to_the_seed_clients_server(make: Callable[..., Any]) -> None:
    # Its server asks with neither a key nor an origin; every other route still needs one of them.
    client = await make()
    async with client("10.0.0.9") as server:
        assert (await server.get("/api/system/health")).status_code == 200
        assert (await server.get("/api/generate/status/t1")).status_code == 401


async def test_system_health_needs_a_key_without_anonymous_access(make_gateway: Any) -> None:
    gateway = await make_gateway(api_keys=[KEY])
    assert (await gateway.get("/api/system/health")).status_code == 401


def test_idle_addresses_are_forgotten() -> None:
    access = AnonymousAccess([SEED], per_minute=60, burst=5, jobs_per_hour=10)
    scope = {"method": "POST", "path": "/api/generate/async", "headers": []}
    for i in range(10):
        assert access.admit(scope, f"10.1.0.{i}") == (0, "")
    assert access.tracked == 10
    access.prune()
    assert access.tracked == 10, "still in their windows"
    access.prune(now=time.monotonic() + 2 * 3600)
    assert access.tracked == 0
