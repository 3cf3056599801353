"""A 48-megapixel photo in the editor: uploaded once as an asset with upload progress, edited on a
display-sized copy, smart-masked and removed by reference, the mask sent at the original's size,
the result downloaded at full resolution under the original's name."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.web

WIDTH, HEIGHT = 8000, 6000
#: The object: a red ellipse, in original pixels.
CX, CY, RX, RY = 5000.0, 3000.0, 320.0, 240.0


def big_photo(path: Path) -> Path:
    """A 48 MP JPEG: a smooth, textured blue-green background with a red ellipse."""
    rng = np.random.default_rng(3)
    xs = np.linspace(0.0, 1.0, WIDTH, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None]
    pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    noise = rng.integers(-6, 7, (HEIGHT, 1), dtype=np.int16)
    pixels[..., 0] = np.clip(50 + 30 * xs + noise, 0, 255).astype(np.uint8)
    pixels[..., 1] = np.clip(120 + 40 * ys + noise, 0, 255).astype(np.uint8)
    pixels[..., 2] = np.clip(150 - 30 * xs + 10 * ys, 0, 255).astype(np.uint8)
    y0, y1, x0, x1 = int(CY - RY), int(CY + RY) + 1, int(CX - RX), int(CX + RX) + 1
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = ((xx - CX) / RX) ** 2 + ((yy - CY) / RY) ** 2 <= 1.0
    pixels[y0:y1, x0:x1][inside] = (215, 40, 40)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


def test_a_48_mp_photo_goes_through_smart_mask_and_removal(web_stack: Any, open_editor: Any, tmp_path: Path) -> None:
    photo = big_photo(tmp_path / "harbour.jpg")
    editor = open_editor(web_stack)
    page = editor.page
    uploads: list[int] = []
    smart: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []

    def record(request: Any) -> None:
        if request.method != "POST":
            return
        if request.url.endswith("/api/assets"):
            uploads.append(1)
        elif request.url.endswith("/api/smart-mask"):
            smart.append(json.loads(request.post_data or "{}"))
        elif request.url.endswith("/api/generate/async"):
            jobs.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    editor.open_image(photo)
    page.wait_for_function("() => window.retouch.session.steps[0].assetId", timeout=120_000)
    asset_id = page.evaluate("() => window.retouch.session.steps[0].assetId")
    # Sent once, the file as it is (its asset id is the hash of its bytes); the bar went to the end.
    assert uploads == [1]
    assert asset_id == hashlib.sha256(photo.read_bytes()).hexdigest()[:32]
    assert page.evaluate("() => document.getElementById('upload-progress').value") == 1
    # The editor works on a display-sized copy of the original.
    sizes = page.evaluate(
        "() => ({ w: window.retouch.editor.width, h: window.retouch.editor.height, o: window.retouch.editor.original })"
    )
    assert (sizes["w"], sizes["h"]) == (2560, 1920)
    assert (sizes["o"]["width"], sizes["o"]["height"]) == (WIDTH, HEIGHT)
    scale = WIDTH / 2560
    editor.wait_view_stable()
    editor.shot("opened")

    # A smart box around the object: by asset id, in the original's pixels.
    page.click("[data-tool='smart']")
    a = ((CX - 1.4 * RX) / scale, (CY - 1.4 * RY) / scale)
    b = ((CX + 1.4 * RX) / scale, (CY + 1.4 * RY) / scale)
    editor.drag_image([a, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), b])
    editor.wait_history(1, timeout=180_000)
    assert len(smart) == 1 and smart[0]["image_id"] == asset_id and "image" not in smart[0]
    box = smart[0]["bbox"]
    assert box[0] == pytest.approx(CX - 1.4 * RX, abs=2 * scale) and box[3] == pytest.approx(
        CY + 1.4 * RY, abs=2 * scale
    )
    stats = editor.mask_stats()
    # The display ellipse has about pi * 102 * 77 pixels.
    assert 0.7 * np.pi * (RX / scale) * (RY / scale) < stats["masked"] < 1.6 * np.pi * (RX / scale) * (RY / scale), (
        stats
    )
    page.fill("#mask-amount", "4")
    page.click("[data-mask-op='grow']")
    editor.wait_history(2)
    editor.shot("masked")

    editor.run_job()
    editor.wait_job("done", timeout=600_000)
    editor.shot("removed")
    body = jobs[0]
    assert body["input_image"] == f"asset:{asset_id}"
    with Image.open(io.BytesIO(base64.b64decode(body["mask"]))) as mask:
        assert mask.size == (WIDTH, HEIGHT)  # the mask travels at the original's size
    result_asset = page.evaluate("() => window.retouch.session.steps[1].assetId")
    assert result_asset and result_asset != asset_id

    # Full resolution, as JPEG, named after the original.
    with page.expect_download(timeout=300_000) as info:
        page.click("#download-jpeg")
    assert info.value.suggested_filename == "harbour-retouched.jpg"
    with Image.open(info.value.path()) as result:
        assert result.size == (WIDTH, HEIGHT) and result.format == "JPEG"
        centre = np.asarray(result.crop((int(CX - 40), int(CY - 40), int(CX + 40), int(CY + 40))).convert("RGB"))
        corner = np.asarray(result.crop((100, 100, 300, 300)).convert("RGB"))
    # The red object is gone from its place; far from it nothing changed.
    assert centre[..., 0].mean() < 150 and centre[..., 1].mean() > 80, centre.mean(axis=(0, 1))
    assert np.abs(corner.astype(int) - np.asarray(Image.open(photo).crop((100, 100, 300, 300)))).mean() < 3
