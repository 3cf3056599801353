"""Mask tools against the real services: brush, eraser, box, smart-mask clicks (the picture sent
once, then its image_id), grow/shrink/feather/invert by image-utils, undo/redo, download/upload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from web_editor import Scene

pytestmark = pytest.mark.web

CORNER_ALPHA_JS = "() => document.getElementById('mask-canvas').getContext('2d').getImageData(40, 205, 1, 1).data[3]"


def smart_requests(editor: Any) -> list[dict[str, Any]]:
    """Bodies of the page's POST /api/smart-mask requests, recorded from now on."""
    bodies: list[dict[str, Any]] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/api/smart-mask"):
            bodies.append(json.loads(request.post_data or "{}"))

    editor.page.on("request", record)
    return bodies


def test_two_smart_clicks_cover_the_object_then_undo_and_redo(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    sent = smart_requests(editor)
    editor.page.click("[data-tool='smart']")
    editor.click_image(scene.cx - scene.rx * 0.4, scene.cy)
    editor.wait_history(1)
    first = editor.mask_stats(scene)
    editor.click_image(scene.cx + scene.rx * 0.4, scene.cy - scene.ry * 0.3)
    editor.wait_history(2)
    second = editor.mask_stats(scene)
    editor.shot("smart-mask")
    assert second["coverage"] > 0.85, second
    assert second["spill"] < 0.05, second
    # The picture travels once, as an asset; every click refers to it by its id (the asset id is
    # smart-mask's image_id), the second with both points.
    assert len(sent) == 2
    asset_id = editor.page.evaluate("() => window.retouch.session.steps[0].assetId")
    assert asset_id and sent[0]["image_id"] == asset_id and "image" not in sent[0]
    assert sent[1]["image_id"] == asset_id and "image" not in sent[1]
    assert sent[1]["points"] == [
        [round(scene.cx - scene.rx * 0.4), round(scene.cy)],
        [round(scene.cx + scene.rx * 0.4), round(scene.cy - scene.ry * 0.3)],
    ]
    assert sent[1]["point_labels"] == [1, 1]
    # An exclude click (right button) refines the same selection.
    editor.click_image(10, 10, exclude=True)
    editor.wait_history(3)
    assert sent[2]["point_labels"] == [1, 1, 0]
    assert editor.mask_stats(scene)["spill"] < 0.05
    # Undo steps back through every edit; redo comes forward again.
    page = editor.page
    page.keyboard.press("Control+z")
    editor.wait_history(2)
    assert editor.mask_stats(scene)["masked"] == second["masked"]
    page.keyboard.press("Control+z")
    editor.wait_history(1)
    assert editor.mask_stats(scene)["masked"] == first["masked"]
    page.keyboard.press("Control+z")
    editor.wait_history(0)
    assert editor.mask_stats(scene)["masked"] == 0
    editor.shot("undone")
    page.keyboard.press("Control+Shift+z")
    editor.wait_history(1)
    assert editor.mask_stats(scene)["masked"] == first["masked"]
    page.click("#redo")
    editor.wait_history(2)
    assert editor.mask_stats(scene)["masked"] == second["masked"]


def test_a_second_object_adds_to_the_mask(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    # First a brush stroke in a corner, then a smart selection: the stroke stays.
    editor.drag_image([(20, 200), (60, 210)])
    editor.wait_history(1)
    stroke = editor.mask_stats(scene)["masked"]
    editor.page.keyboard.press("s")
    editor.click_image(scene.cx, scene.cy)
    editor.wait_history(2)
    stats = editor.mask_stats(scene)
    assert editor.page.evaluate(CORNER_ALPHA_JS) == 255
    assert stats["masked"] > stroke
    assert stats["coverage"] > 0.8
    # Alt-click excludes too; it refines the same object, and the stroke is still kept.
    sent = smart_requests(editor)
    editor.click_image(scene.cx + scene.rx + 30, scene.cy, alt=True)
    editor.wait_history(3)
    assert sent[0]["point_labels"] == [1, 0]
    assert editor.mask_stats(scene)["coverage"] > 0.8
    assert editor.page.evaluate(CORNER_ALPHA_JS) == 255


def test_brush_eraser_box_and_sizes(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.fill("#brush-size", "20")
    page.dispatch_event("#brush-size", "input")
    editor.drag_image([(40, 40), (120, 40)])
    editor.wait_history(1)
    painted = editor.mask_stats()["masked"]
    # A 20 px round brush along 80 px: about 80 * 20 + a disk.
    assert 1600 <= painted <= 2200
    page.keyboard.press("e")
    editor.drag_image([(80, 30), (80, 50)])
    editor.wait_history(2)
    assert editor.mask_stats()["masked"] < painted
    page.keyboard.press("x")
    editor.drag_image([(200, 150), (260, 200)])
    editor.wait_history(3)
    box = page.evaluate(
        "() => Array.from(document.getElementById('mask-canvas').getContext('2d').getImageData(200, 150, 60, 50).data.filter((_, i) => i % 4 === 3))"
    )
    assert min(box) == 255
    editor.shot("painted")
    # Hiding the overlay keeps the mask.
    page.uncheck("#mask-visible")
    assert page.evaluate("() => getComputedStyle(document.getElementById('mask-canvas')).visibility") == "hidden"
    assert editor.mask_stats()["masked"] > 0


@pytest.mark.parametrize(
    ("op", "check"), [("grow", "more"), ("shrink", "less"), ("feather", "soft"), ("invert", "inverse")]
)
def test_mask_operations_use_image_utils(web_stack: Any, open_editor: Any, scene: Scene, op: str, check: str) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.keyboard.press("x")
    editor.drag_image([(100, 80), (200, 160)])
    editor.wait_history(1)
    before = editor.mask_stats()["masked"]
    page.fill("#mask-amount", "6")
    page.click(f"[data-mask-op='{op}']")
    editor.wait_history(2)
    after = editor.mask_stats()["masked"]
    total = scene.width * scene.height
    if check == "more":
        assert after > before + 4 * 100
    elif check == "less":
        assert after < before - 4 * 80
    elif check == "inverse":
        assert after == total - before
    else:
        alphas = page.evaluate(
            "() => Array.from(document.getElementById('mask-canvas').getContext('2d').getImageData(95, 120, 10, 1).data.filter((_, i) => i % 4 === 3))"
        )
        assert any(0 < a < 255 for a in alphas), alphas
    page.keyboard.press("Control+z")
    editor.wait_history(1)
    assert editor.mask_stats()["masked"] == before


def test_mask_download_and_upload(web_stack: Any, open_editor: Any, scene: Scene, tmp_path: Path) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.keyboard.press("x")
    editor.drag_image([(30, 40), (90, 100)])
    editor.wait_history(1)
    with page.expect_download() as info:
        page.click("#mask-download")
    saved = tmp_path / "mask.png"
    info.value.save_as(saved)
    with Image.open(saved) as img:
        assert img.size == (scene.width, scene.height)
        mask = np.asarray(img.convert("L"))
    assert (mask[40:100, 30:90] == 255).all()
    assert int((mask > 127).sum()) == 60 * 60
    # Upload another mask (half the size: it is scaled to the picture).
    upload = Image.new("L", (scene.width // 2, scene.height // 2), 0)
    upload.paste(255, (0, 0, 40, 30))
    path = tmp_path / "upload.png"
    upload.save(path)
    page.set_input_files("#mask-upload", str(path))
    editor.wait_history(2)
    stats = editor.mask_stats()
    assert stats["masked"] == pytest.approx(80 * 60, rel=0.05)
    page.keyboard.press("Control+z")
    editor.wait_history(1)
    assert editor.mask_stats()["masked"] == 60 * 60


def test_smart_click_outside_the_picture_or_failing_says_why(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.keyboard.press("s")
    # Zoom out so the stage shows space around the picture, and click there: nothing is sent.
    page.click("#zoom-out")
    page.click("#zoom-out")
    sent = smart_requests(editor)
    editor.click_image(-20, -20)
    page.wait_for_timeout(300)
    assert sent == []
    assert editor.history_length() == 0
