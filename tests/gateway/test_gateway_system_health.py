"""``GET /api/system/health``: aggregation, idle scale-to-zero services, cache and single flight."""

from __future__ import annotations

import asyncio

import httpx
from gateway_fakes import FakeService, MakeGateway, closed_port

SERVICES = ("generation", "segmentation", "image_utils", "job_manager")


async def test_all_healthy(gateway: httpx.AsyncClient, fakes: dict[str, FakeService]) -> None:
    response = await gateway.get("/api/system/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["services"]) == set(SERVICES)
    for name in SERVICES:
        service = body["services"][name]
        assert service["status"] == "healthy"
        assert service["version"] == "9.9.9"
        assert service["engine"] == f"{name}-engine"
        assert service["latency_ms"] >= 0
        assert "error" not in service
        assert fakes[name].health_hits == 1


async def test_a_down_service_makes_the_system_degraded(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    urls = {name: fakes[name].url for name in SERVICES}
    urls["segmentation"] = f"http://127.0.0.1:{closed_port()}"
    gateway = await make_gateway(urls=urls)
    body = (await gateway.get("/api/system/health")).json()
    assert body["status"] == "degraded"
    down = body["services"]["segmentation"]
    assert down["status"] == "unhealthy"
    assert "unreachable" in down["error"]
    assert body["services"]["image_utils"]["status"] == "healthy"


async def test_not_configured_services_are_unhealthy(make_gateway: MakeGateway, fakes: dict[str, FakeService]) -> None:
    gateway = await make_gateway(urls={"image_utils": fakes["image_utils"].url})
    body = (await gateway.get("/api/system/health")).json()
    assert body["status"] == "degraded"
    assert body["services"]["generation"]["status"] == "unhealthy"
    assert body["services"]["generation"]["error"].startswith("not configured")

    nothing = await make_gateway(urls={})
    body = (await nothing.get("/api/system/health")).json()
    assert body["status"] == "unhealthy"


async def test_loading_and_failing_services(gateway: httpx.AsyncClient, fakes: dict[str, FakeService]) -> None:
    fakes["generation"].health_status = "loading"
    fakes["segmentation"].health_status = "unhealthy"
    fakes["segmentation"].health_http_status = 503
    body = (await gateway.get("/api/system/health")).json()
    assert body["status"] == "degraded"
    assert body["services"]["generation"]["status"] == "loading"
    assert body["services"]["generation"]["error"]
    assert body["services"]["segmentation"]["status"] == "unhealthy"


async def test_a_slow_health_check_is_cut_at_the_timeout(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    fakes["job_manager"].health_delay = 2.0
    gateway = await make_gateway(health_timeout_s=0.2)
    body = (await gateway.get("/api/system/health")).json()
    assert body["status"] == "degraded"
    assert body["services"]["job_manager"] == {"status": "unhealthy", "error": "no answer within 0.2 s"}


async def test_idle_scale_to_zero_service_is_not_probed(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(scale_to_zero=["generation", "segmentation"], health_cache_ttl_s=0)
    body = (await gateway.get("/api/system/health")).json()
    assert body["status"] == "healthy"
    assert body["services"]["generation"] == {"status": "idle"}
    assert body["services"]["segmentation"] == {"status": "idle"}
    assert fakes["generation"].health_hits == 0
    assert fakes["segmentation"].health_hits == 0
    assert fakes["image_utils"].health_hits == 1

    # Once the gateway has sent it work, the service is awake and gets probed like the others.
    assert (await gateway.post("/api/smart-mask", json={})).status_code == 200
    body = (await gateway.get("/api/system/health")).json()
    assert body["services"]["segmentation"]["status"] == "healthy"
    assert fakes["segmentation"].health_hits == 1
    assert body["services"]["generation"] == {"status": "idle"}
    assert fakes["generation"].health_hits == 0


async def test_service_is_idle_again_after_idle_after_s(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    gateway = await make_gateway(scale_to_zero=["segmentation"], idle_after_s=0.2, health_cache_ttl_s=0)
    await gateway.post("/api/smart-mask", json={})
    assert (await gateway.get("/api/system/health")).json()["services"]["segmentation"]["status"] == "healthy"
    await asyncio.sleep(0.3)
    assert (await gateway.get("/api/system/health")).json()["services"]["segmentation"] == {"status": "idle"}
    assert fakes["segmentation"].health_hits == 1


async def test_concurrent_callers_share_one_round_of_checks(
    make_gateway: MakeGateway, fakes: dict[str, FakeService]
) -> None:
    for service in fakes.values():
        service.health_delay = 0.2
    gateway = await make_gateway(health_cache_ttl_s=0)
    answers = await asyncio.gather(*(gateway.get("/api/system/health") for _ in range(10)))
    assert all(answer.status_code == 200 and answer.json()["status"] == "healthy" for answer in answers)
    assert [fakes[name].health_hits for name in SERVICES] == [1, 1, 1, 1]
    # With no cache, the next caller after the round starts a new one.
    await gateway.get("/api/system/health")
    assert [fakes[name].health_hits for name in SERVICES] == [2, 2, 2, 2]


async def test_answers_are_cached_for_the_ttl(make_gateway: MakeGateway, fakes: dict[str, FakeService]) -> None:
    gateway = await make_gateway(health_cache_ttl_s=0.3)
    for _ in range(3):
        await gateway.get("/api/system/health")
    assert fakes["image_utils"].health_hits == 1
    await asyncio.sleep(0.4)
    await gateway.get("/api/system/health")
    assert fakes["image_utils"].health_hits == 2
