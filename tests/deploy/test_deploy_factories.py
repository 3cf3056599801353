"""Each service's app factory, built under exactly the environment its deploy file gives it (plus
stand-ins for the secrets): the deployment's configuration is one the services accept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

SECRETS = {
    "RETOUCH_SERVICE_TOKEN": "token-1",
    "RETOUCH_API_KEYS": "key-1",
    "RETOUCH_ALLOWED_ORIGINS": "https://editor.example.com",
    "RETOUCH_PROXY_KEY": "wk-1",
    "RETOUCH_PROXY_SECRET": "ws-1",
}


def deploy_env(monkeypatch: pytest.MonkeyPatch, item: Any) -> None:
    for name, value in {**SECRETS, **item.env}.items():
        monkeypatch.setenv(name, value)


def web(apps: dict[str, Any], service: str) -> Any:
    return next(item for item in apps[service].values() if item.label)


async def test_the_gateway_starts_with_derived_urls_and_serves_health(
    apps: dict[str, Any], load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from retouch.gateway.app import create_app

    deploy_env(monkeypatch, web(apps, "gateway"))
    gateway = load("gateway")
    for name, value in gateway.upstream_environment(os.environ, "https://acme--api-gateway.modal.run").items():
        monkeypatch.setenv(name, value)
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.get("/api/health")
    assert response.status_code == 200 and response.json()["service"] == "gateway"


async def test_image_utils_starts_and_requires_the_service_token(
    apps: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retouch.image_utils.app import create_app

    deploy_env(monkeypatch, web(apps, "image_utils"))
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://iu") as client:
        assert (await client.get("/api/health")).status_code == 200
        refused = await client.post("/api/image-utils/convert", json={})
        allowed = await client.post("/api/image-utils/convert", json={}, headers={"X-Service-Token": "token-1"})
    assert refused.status_code == 401
    assert allowed.status_code == 422  # past the token check, refused for its (empty) body


def test_the_jobs_service_is_wired_to_the_modal_seams(apps: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from retouch.jobs.app import create_app
    from retouch.jobs.modal import ModalDictJobStore, ModalSpawnDispatcher, ModalVolumeBlobStore

    deploy_env(monkeypatch, web(apps, "job_manager"))
    service = create_app().state.jobs  # built, not started: starting would reach Modal
    assert isinstance(service.store, ModalDictJobStore)
    assert isinstance(service.blobs, ModalVolumeBlobStore)
    assert isinstance(service.dispatcher, ModalSpawnDispatcher)


def test_generation_builds_the_qwen_and_classic_engines_without_loading(
    apps: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retouch.generation.app import create_app

    deploy_env(monkeypatch, web(apps, "generation"))
    runner = create_app().state.runner
    assert list(runner.engines) == ["qwen", "classic"]
    assert runner.state == "loading"  # the GPU container's start-up loads it, not the factory
