"""Readiness while the engine loads, cancelling running requests, and the per-image cache."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from seg_engines import Gate, GatedEngine
from seg_scenes import b64, disk_scene, png
from seg_support import MakeApp, grabcut_settings, wait_until_settled

from retouch.sdk import codec
from retouch.sdk.models.common import Health

IMAGE = b64(png(disk_scene(0)[0]))
CLICK = {"image": IMAGE, "points": [[110, 96]]}


async def reached(gate: Gate) -> None:
    assert await asyncio.to_thread(gate.reached.wait, 30), "the engine never reached the gate"


async def test_health_says_loading_and_requests_are_503_until_the_engine_is_ready(make_app: MakeApp) -> None:
    gate = Gate()
    _, http = await make_app(engine=GatedEngine(load=gate), wait=False)
    try:
        await reached(gate)
        report = codec.decode((await http.get("/api/health")).content, Health)
        assert (report.status, report.ready, report.engine) == ("loading", False, "grabcut")
        response = await http.post("/api/smart-mask", json=CLICK)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "loading" in response.json()["detail"]
    finally:
        gate.opened.set()
    await wait_until_settled(http)
    report = codec.decode((await http.get("/api/health")).content, Health)
    assert (report.status, report.ready, report.service) == ("healthy", True, "segmentation")
    assert (await http.post("/api/smart-mask", json=CLICK)).status_code == 200


async def test_an_engine_that_fails_to_load_makes_the_service_unhealthy(make_app: MakeApp) -> None:
    _, http = await make_app(engine=GatedEngine(fail_load="weights are corrupt"))
    health = await http.get("/api/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy" and "weights are corrupt" in health.json()["detail"]
    response = await http.post("/api/smart-mask", json=CLICK)
    assert response.status_code == 503 and "weights are corrupt" in response.json()["detail"]


async def test_cancel_while_the_picture_is_prepared(make_app: MakeApp) -> None:
    gate = Gate()
    engine = GatedEngine(prepare=gate)
    _, http = await make_app(engine=engine)
    request = asyncio.create_task(http.post("/api/smart-mask", json={**CLICK, "request_id": "click-1"}))
    try:
        await reached(gate)
        cancel = await http.post("/api/smart-mask/cancel/click-1")
        assert cancel.status_code == 200
        assert cancel.json() == {"request_id": "click-1", "status": "cancelled"}
        # The request answers at once although the preparation it waited for still runs.
        response = await asyncio.wait_for(request, timeout=10)
        assert response.status_code == 409 and response.json()["detail"] == "cancelled"
    finally:
        gate.opened.set()
    assert (await http.post("/api/smart-mask/cancel/click-1")).status_code == 404
    # The preparation finished for the cache: the next click does not prepare again.
    for _ in range(200):
        if engine.prepared and (await http.post("/api/smart-mask", json=CLICK)).json().get("cached"):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the cancelled request's preparation never reached the cache")
    assert engine.prepared == 1


async def test_cancel_while_segmenting_stops_at_the_next_stage(make_app: MakeApp) -> None:
    gate = Gate()
    _, http = await make_app(engine=GatedEngine(segment=gate))
    request = asyncio.create_task(http.post("/api/smart-mask", json={**CLICK, "request_id": "click-2"}))
    try:
        await reached(gate)
        assert (await http.post("/api/smart-mask/cancel/click-2")).status_code == 200
    finally:
        gate.opened.set()
    response = await asyncio.wait_for(request, timeout=30)
    assert response.status_code == 409 and response.json()["detail"] == "cancelled"


async def test_cancel_of_an_unknown_or_finished_request_is_404(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/smart-mask/cancel/never-sent")).status_code == 404
    done = await http.post("/api/smart-mask", json={**CLICK, "request_id": "done-1"})
    assert done.status_code == 200 and done.json()["request_id"] == "done-1"
    response = await http.post("/api/smart-mask/cancel/done-1")
    assert response.status_code == 404
    assert "request_id" in response.json()["detail"]


async def test_a_request_id_already_running_is_409(make_app: MakeApp) -> None:
    gate = Gate()
    _, http = await make_app(engine=GatedEngine(segment=gate))
    first = asyncio.create_task(http.post("/api/smart-mask", json={**CLICK, "request_id": "same"}))
    try:
        await reached(gate)
        second = await http.post("/api/smart-mask", json={**CLICK, "request_id": "same"})
        assert second.status_code == 409 and "request_id" in second.json()["detail"]
    finally:
        gate.opened.set()
    assert (await first).status_code == 200


async def test_a_server_chosen_request_id_is_returned(http: httpx.AsyncClient) -> None:
    answers = [(await http.post("/api/smart-mask", json=CLICK)).json() for _ in range(2)]
    assert answers[0]["request_id"] and answers[0]["request_id"] != answers[1]["request_id"]


async def test_two_quick_clicks_on_a_new_picture_prepare_it_once(make_app: MakeApp) -> None:
    gate = Gate()
    engine = GatedEngine(prepare=gate)
    _, http = await make_app(engine=engine)
    first = asyncio.create_task(http.post("/api/smart-mask", json=CLICK))
    await reached(gate)
    second = asyncio.create_task(http.post("/api/smart-mask", json={"image": IMAGE, "points": [[100, 90]]}))
    await asyncio.sleep(0.05)
    gate.opened.set()
    responses = await asyncio.gather(first, second)
    assert [r.status_code for r in responses] == [200, 200]
    assert engine.prepared == 1


def picture(seed: int) -> str:
    return b64(png(disk_scene(seed)[0]))


async def test_the_cache_keeps_the_most_recently_used_pictures_within_its_byte_budget(make_app: MakeApp) -> None:
    # A prepared 256x192 picture holds 256 * 192 * 3 bytes: room for two of them.
    _, http = await make_app(grabcut_settings(cache_bytes=2 * 256 * 192 * 3 + 100))

    async def click(**body: Any) -> httpx.Response:
        return await http.post("/api/smart-mask", json={"points": [[110, 96]], **body})

    ids = [(await click(image=picture(seed))).json()["image_id"] for seed in (10, 11, 12)]
    assert len(set(ids)) == 3
    assert (await click(image_id=ids[0])).status_code == 404  # the oldest went first
    assert (await click(image_id=ids[1])).status_code == 200  # now the most recent
    assert (await click(image=picture(13))).status_code == 200
    assert (await click(image_id=ids[2])).status_code == 404
    assert (await click(image_id=ids[1])).status_code == 200


async def test_a_cached_picture_gives_the_same_mask_as_a_fresh_one(http: httpx.AsyncClient) -> None:
    first = (await http.post("/api/smart-mask", json=CLICK)).json()
    again = (await http.post("/api/smart-mask", json={"image_id": first["image_id"], "points": [[110, 96]]})).json()
    assert again["cached"] is True
    assert again["mask_base64"] == first["mask_base64"]
