"""A smart-mask ``request_id`` is the caller's own: another caller (``X-Retouch-Owner``, set by the
gateway) can neither cancel it nor collide with it."""

from __future__ import annotations

import asyncio

from seg_engines import Gate, GatedEngine
from seg_scenes import b64, disk_scene, png
from seg_support import MakeApp

IMAGE = b64(png(disk_scene(0)[0]))
ALICE = {"X-Retouch-Owner": "alice"}
BOB = {"X-Retouch-Owner": "bob"}


async def test_another_caller_cannot_cancel_or_collide_with_a_request_id(make_app: MakeApp) -> None:
    gate = Gate()
    _, http = await make_app(engine=GatedEngine(segment=gate))
    body = {"image": IMAGE, "points": [[110, 96]], "request_id": "click-1"}
    alices = asyncio.create_task(http.post("/api/smart-mask", json=body, headers=ALICE))
    try:
        assert await asyncio.to_thread(gate.reached.wait, 30), "the engine never reached the gate"
        # Bob's cancel of the same id finds nothing of his: 404, and Alice's request is untouched.
        refused = await http.post("/api/smart-mask/cancel/click-1", headers=BOB)
        assert refused.status_code == 404
        assert "click-1" in refused.json()["detail"]
        # Bob may use the same id for his own request (not a 409 "already running").
        bobs = asyncio.create_task(http.post("/api/smart-mask", json=body, headers=BOB))
        await asyncio.sleep(0.2)
        assert not bobs.done() or bobs.result().status_code != 409
    finally:
        gate.opened.set()
    assert (await asyncio.wait_for(alices, 30)).status_code == 200
    assert (await asyncio.wait_for(bobs, 30)).status_code == 200


async def test_the_owner_can_cancel_its_own_request(make_app: MakeApp) -> None:
    gate = Gate()
    _, http = await make_app(engine=GatedEngine(segment=gate))
    body = {"image": IMAGE, "points": [[110, 96]], "request_id": "mine"}
    request = asyncio.create_task(http.post("/api/smart-mask", json=body, headers=ALICE))
    try:
        assert await asyncio.to_thread(gate.reached.wait, 30)
        assert (await http.post("/api/smart-mask/cancel/mine", headers=ALICE)).status_code == 200
    finally:
        gate.opened.set()
    response = await asyncio.wait_for(request, 30)
    assert response.status_code == 409 and response.json()["detail"] == "cancelled"
