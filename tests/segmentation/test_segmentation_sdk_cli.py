"""The SDK (``client.smart_mask``, ``client.segmentation.cancel``) and the ``retouch smart-mask`` CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from seg_engines import Gate, GatedEngine
from seg_scenes import decode_mask, disk_scene, iou, png, two_object_scene
from seg_support import MakeApp

from retouch.sdk import AsyncClient, Client
from retouch.sdk.cli import main
from retouch.sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError
from retouch.sdk.models.segmentation import SmartMaskResponse


async def test_async_client_smart_mask_and_image_id(sdk: AsyncClient) -> None:
    image, truth = disk_scene(0)
    first = await sdk.smart_mask(png(image), points=[(110, 96)])
    assert isinstance(first, SmartMaskResponse)
    assert iou(decode_mask(first.mask_base64) > 127, truth) >= 0.9
    second = await sdk.segmentation.smart_mask(image_id=first.image_id, bbox=(60, 46, 160, 146), border_adjustment=2)
    assert second.cached and second.image_id == first.image_id
    assert (decode_mask(second.mask_base64) > 127).sum() > (decode_mask(first.mask_base64) > 127).sum()


async def test_async_client_takes_a_pil_image_and_a_brush_stroke(sdk: AsyncClient) -> None:
    image, truth = disk_scene(1)
    stroke = np.zeros(truth.shape, np.uint8)
    stroke[92:100, 90:135] = 255
    answer = await sdk.smart_mask(Image.fromarray(image), mask=Image.fromarray(stroke), use_blur=True)
    assert iou(decode_mask(answer.mask_base64) > 127, truth) >= 0.9


async def test_async_client_raises_typed_errors(sdk: AsyncClient) -> None:
    image, _ = disk_scene(0)
    with pytest.raises(UnprocessableEntityError) as caught:
        await sdk.smart_mask(png(image))
    assert "points" in caught.value.problem.detail
    with pytest.raises(UnprocessableEntityError):
        await sdk.smart_mask(png(image), points=[(1, 1)], point_labels=[2])
    with pytest.raises(NotFoundError):
        await sdk.smart_mask(image_id="0" * 32, points=[(1, 1)])
    with pytest.raises(NotFoundError):
        await sdk.segmentation.cancel("nothing-running")
    with pytest.raises(ValueError, match="image_id"):
        await sdk.smart_mask(points=[(1, 1)])


async def test_async_client_cancel(make_app: MakeApp) -> None:
    gate = Gate()
    app, _ = await make_app(engine=GatedEngine(segment=gate))
    async with AsyncClient("http://seg", transport=httpx.ASGITransport(app=app), max_retries=0) as sdk:
        image, _ = disk_scene(0)
        request = asyncio.create_task(sdk.smart_mask(png(image), points=[(110, 96)], request_id="sdk-1"))
        try:
            assert await asyncio.to_thread(gate.reached.wait, 30)
            cancelled = await sdk.segmentation.cancel("sdk-1")
            assert (cancelled.request_id, cancelled.status) == ("sdk-1", "cancelled")
        finally:
            gate.opened.set()
        with pytest.raises(ConflictError) as caught:
            await request
        assert caught.value.problem.detail == "cancelled"


def test_sync_client_against_a_live_server(live_url: str) -> None:
    image, a, b = two_object_scene(2)
    with Client(live_url, max_retries=0) as client:
        answer = client.smart_mask(png(image), points=[(110, 96), (185, 96)], point_labels=[1, 0])
        mask = decode_mask(answer.mask_base64) > 127
        assert iou(mask, a) >= 0.9 and (mask & b).sum() < 0.05 * b.sum()
        with pytest.raises(NotFoundError):
            client.segmentation.cancel("unknown")


def test_cli_smart_mask_writes_the_mask(live_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, a, b = two_object_scene(3)
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(image))
    out = tmp_path / "mask.png"
    code = main(
        ["--url", live_url, "smart-mask", str(photo), "--point", "110,96", "--point", "185,96:0", "-o", str(out)]
    )
    assert code == 0
    mask = np.asarray(Image.open(out)) > 127
    assert iou(mask, a) >= 0.9 and (mask & b).sum() < 0.05 * b.sum()
    printed = json.loads(capsys.readouterr().out)
    assert "mask_base64" not in printed and printed["image_id"] and printed["bbox"]

    again = tmp_path / "grown.png"
    args = ["--url", live_url, "smart-mask", "--image-id", printed["image_id"], "--box", "60,46,160,146"]
    assert main([*args, "--grow", "3", "-o", str(again)]) == 0
    assert (np.asarray(Image.open(again)) > 127).sum() > 0


def test_cli_refuses_bad_arguments(live_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--url", live_url, "smart-mask", "x.png", "--point", "12", "-o", str(tmp_path / "m.png")])
    with pytest.raises(SystemExit):
        main(["--url", live_url, "smart-mask", "x.png", "--point", "1,2:5", "-o", str(tmp_path / "m.png")])
    with pytest.raises(SystemExit):
        main(["--url", live_url, "smart-mask", "x.png", "--box", "1,2,3", "-o", str(tmp_path / "m.png")])
    assert main(["--url", live_url, "smart-mask", "--point", "1,2", "-o", str(tmp_path / "m.png")]) == 2
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(disk_scene(0)[0]))
    assert main(["--url", live_url, "smart-mask", str(photo), "-o", str(tmp_path / "m.png")]) == 1
    assert "points" in capsys.readouterr().err
    assert main(["--url", live_url, "smart-mask-cancel", "nope"]) == 1


def test_smart_mask_routes_are_in_the_public_contract() -> None:
    from retouch.sdk.models import public_routes

    routes = {(r.method, r.path): r for r in public_routes() if r.service == "segmentation"}
    assert routes[("POST", "/api/smart-mask")].response is SmartMaskResponse
    assert ("POST", "/api/smart-mask/cancel/{request_id}") in routes
