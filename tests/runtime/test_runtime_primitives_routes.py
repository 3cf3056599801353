"""Each mask primitive of ``retouch.runtime.masks`` gives the same pixels through every service's
public route that uses it: the image-utils ``mask`` operation, the smart mask's
``border_adjustment`` / ``use_blur``, and the generation service's brush grow and compositing band.

The smart mask's engine and the generation engine are replaced by stand-ins that answer a known
mask / a white picture, so what comes back is the primitive alone, applied by the service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from retouch.generation.app import create_app as create_generation
from retouch.generation.engines import CancelCheck, EditResult, StageCallback
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import EditJob
from retouch.image_utils.app import create_app as create_image_utils
from retouch.image_utils.settings import ImageUtilsSettings
from retouch.runtime.cancel import CancelToken
from retouch.segmentation.app import create_app as create_segmentation
from retouch.segmentation.engines import PreparedImage, Segment
from retouch.segmentation.engines.grabcut import GrabCutEngine
from retouch.segmentation.prompts import Prompts
from retouch.segmentation.settings import SegmentationSettings

WIDTH, HEIGHT = 64, 48


def scene_mask() -> np.ndarray:
    """A mask touching the picture's left edge, with a concave notch, plus a separate dot."""
    inside = np.zeros((HEIGHT, WIDTH), bool)
    inside[8:30, 0:24] = True
    inside[14:20, 12:24] = False  # a notch open to the right (not a hole)
    inside[36, 44] = True
    return np.where(inside, 255, 0).astype(np.uint8)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pixels(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


class FixedMaskEngine(GrabCutEngine):
    """A segmentation engine whose answer is always :func:`scene_mask`."""

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        return Segment(mask=scene_mask(), score=1.0)


class WhiteEngine:
    """A generation engine that paints the whole picture white."""

    name = "classic"
    device = "cpu"

    def load(self) -> None:
        return None

    def check(self, job: EditJob) -> None:
        return None

    def edit(self, job: EditJob, on_progress: StageCallback, cancelled: CancelCheck) -> EditResult:
        return EditResult(image=Image.new("RGB", job.size, (255, 255, 255)))


@contextlib.asynccontextmanager
async def serve(app: Any, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("retouch.runtime.app.configure_logging", lambda *args, **kwargs: None)


async def image_utils(operation: str, mask: np.ndarray, amount: float) -> np.ndarray:
    app = create_image_utils(ImageUtilsSettings(log_json=False))
    async with serve(app, "http://image-utils") as client:
        body = {"mask": b64(png(mask)), "operation": operation, "amount": amount}
        response = await client.post("/api/image-utils/mask", json=body)
    assert response.status_code == 200, response.text
    return pixels(response.json()["mask"])


async def smart_mask(**body: Any) -> np.ndarray:
    settings = SegmentationSettings(log_json=False, hole_fraction=0.0, feather_radius=2.5)
    app = create_segmentation(settings, engine=FixedMaskEngine(settings))
    async with serve(app, "http://seg") as client:
        for _ in range(200):
            if (await client.get("/api/health")).json().get("ready"):
                break
            await asyncio.sleep(0.02)
        picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        response = await client.post("/api/smart-mask", json={"image": b64(png(picture)), "points": [[5, 5]], **body})
    assert response.status_code == 200, response.text
    return pixels(response.json()["mask_base64"])


async def generation(*, brush_grow_px: int, composite_grow_px: int, mask_tool_type: str) -> np.ndarray:
    settings = GenerationSettings(log_json=False, brush_grow_px=brush_grow_px, composite_grow_px=composite_grow_px)
    app = create_generation(settings)
    app.state.runner.engines["classic"] = WhiteEngine()
    async with serve(app, "http://generation") as client:
        assert app.state.runner.wait_ready(30)
        body = {
            "prompt": "",
            "task_type": "removal",
            "engine": "classic",
            "input_image": b64(png(np.zeros((HEIGHT, WIDTH, 3), np.uint8))),
            "mask": b64(png(scene_mask())),
            "mask_tool_type": mask_tool_type,
        }
        response = await client.post("/api/generation/run", json=body)
    assert response.status_code == 200, response.text
    last = json.loads(response.text.splitlines()[-1])
    assert last["type"] == "result", last
    rgb = pixels(last["image"])
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    return rgb[..., 0]


@pytest.mark.parametrize("pixels_", [1, 4, 6])
async def test_grow_is_the_same_through_image_utils_smart_mask_and_the_brush(pixels_: int) -> None:
    expected = await image_utils("grow", scene_mask(), pixels_)
    assert (expected > 0).sum() > (scene_mask() > 0).sum()  # it did grow
    assert np.array_equal(await smart_mask(border_adjustment=pixels_), expected)
    brushed = await generation(brush_grow_px=pixels_, composite_grow_px=0, mask_tool_type="brush")
    assert np.array_equal(brushed, expected)


@pytest.mark.parametrize("pixels_", [2, 5])
async def test_shrink_is_the_same_through_image_utils_and_smart_mask(pixels_: int) -> None:
    expected = await image_utils("shrink", scene_mask(), pixels_)
    # One edge policy: the picture's left edge is not a boundary, so the shrunk mask still touches it.
    assert (expected[:, 0] > 0).any()
    assert np.array_equal(await smart_mask(border_adjustment=-pixels_), expected)


async def test_feather_is_the_same_through_image_utils_and_smart_mask_blur() -> None:
    # The service's feather_radius (2.5) reaches that far on each side: a ramp 5 px wide.
    expected = await image_utils("feather", scene_mask(), 5.0)
    assert ((expected > 0) & (expected < 255)).any()
    assert np.array_equal(await smart_mask(use_blur=True), expected)


async def test_the_compositing_band_is_the_image_utils_grow_and_feather() -> None:
    band = 8
    inner = await image_utils("grow", scene_mask(), band / 2)
    ramp = await image_utils("feather", inner, band)
    outer = await image_utils("grow", scene_mask(), band)
    expected = np.where(scene_mask() > 0, 255, np.where(outer > 0, ramp, 0))
    composited = await generation(brush_grow_px=0, composite_grow_px=band, mask_tool_type="box")
    assert np.array_equal(composited, expected)
