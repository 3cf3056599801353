"""The web editor's static files at ``/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_fakes import PROBLEM_JSON, MakeGateway


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>retouch</title>")
    (root / "js" / "app.js").write_text("console.log('retouch')")
    # A file shadowing an API path must not win over the API.
    (root / "api").mkdir()
    (root / "api" / "health").write_text("not the health route")
    return root


async def test_index_and_files_are_served_without_a_key(make_gateway: MakeGateway, web_dir: Path) -> None:
    gateway = await make_gateway(web_dir=web_dir, api_keys=["k"])
    index = await gateway.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "<title>retouch</title>" in index.text
    script = await gateway.get("/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.text == "console.log('retouch')"


async def test_api_routes_win_over_files(make_gateway: MakeGateway, web_dir: Path) -> None:
    gateway = await make_gateway(web_dir=web_dir)
    health = await gateway.get("/api/health")
    assert health.json()["service"] == "gateway"
    missing = await gateway.post("/api/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON


async def test_missing_file_is_404(make_gateway: MakeGateway, web_dir: Path) -> None:
    gateway = await make_gateway(web_dir=web_dir)
    response = await gateway.get("/no-such-file.js")
    assert response.status_code == 404


async def test_no_web_dir_or_a_missing_one_serves_nothing(make_gateway: MakeGateway, tmp_path: Path) -> None:
    for gateway in (await make_gateway(), await make_gateway(web_dir=tmp_path / "absent")):
        response = await gateway.get("/")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
