"""The editing session: runs stack (each applies to the current result), undo and redo move back
and forth across results, "back to original", the session survives a reload, and nothing is
discarded without a confirmation; on a touch screen two fingers zoom and pan, one paints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from web_editor import Scene, scene_image

pytestmark = pytest.mark.web

IMAGE_URL_JS = "() => document.getElementById('image-canvas').toDataURL()"


def box_run(editor: Any, box: list[tuple[float, float]]) -> None:
    editor.page.keyboard.press("x")
    before = editor.history_length()
    editor.drag_image(box)
    editor.wait_history(before + 1)
    editor.run_job()
    editor.wait_job("done")


def jobs_sent(editor: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    editor.page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data or "{}"))
            if r.method == "POST" and r.url.endswith("/api/generate/async")
            else None
        ),
    )
    return sent


def test_two_runs_stack_and_undo_goes_back_through_both(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    page = editor.page
    sent = jobs_sent(editor)
    editor.open_image(scene.path)
    original = page.evaluate(IMAGE_URL_JS)
    box_run(editor, [(10, 10), (60, 60)])
    first = page.evaluate(IMAGE_URL_JS)
    assert first != original  # the result is the picture now
    page.click("#view-edit")
    box_run(editor, [(scene.cx - scene.rx, scene.cy - scene.ry), (scene.cx + scene.rx, scene.cy + scene.ry)])
    second = page.evaluate(IMAGE_URL_JS)
    assert second not in (first, original)
    steps = page.evaluate("() => window.retouch.session.steps.map((s) => s.assetId)")
    assert len(steps) == 3 and all(steps)
    # The second run applied to the first result, by its asset.
    assert sent[0]["input_image"] == f"asset:{steps[0]}"
    assert sent[1]["input_image"] == f"asset:{steps[1]}"
    editor.shot("two-edits")
    # Undo goes back through both results to the original; redo comes forward again.
    page.click("#edit-undo")
    assert page.evaluate(IMAGE_URL_JS) == first
    assert page.inner_text("#edit-position") == "Edit 1 of 2"
    page.click("#edit-undo")
    assert page.evaluate(IMAGE_URL_JS) == original
    assert page.is_disabled("#edit-undo") and page.inner_text("#edit-position") == "Original picture"
    page.click("#edit-redo")
    page.click("#edit-redo")
    assert page.evaluate(IMAGE_URL_JS) == second
    page.click("#edit-original")
    assert page.evaluate(IMAGE_URL_JS) == original
    # A Run from here would drop both edits: it asks first, and a "no" keeps them.
    page.click("#view-edit")
    page.once("dialog", lambda dialog: dialog.dismiss())
    editor.run_job()
    page.wait_for_timeout(300)
    assert len(sent) == 2
    assert page.evaluate("() => window.retouch.session.steps.length") == 3


def test_a_reload_restores_the_session(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    page = editor.page
    editor.open_image(scene.path)
    box_run(editor, [(10, 10), (60, 60)])
    page.click("#view-edit")
    page.keyboard.press("x")
    editor.drag_image([(100, 100), (140, 130)])
    editor.wait_history(2)
    picture = page.evaluate(IMAGE_URL_JS)
    masked = editor.mask_stats()["masked"]
    # Saved: both steps, at the result, with the second mask edit.
    page.wait_for_function("() => document.body.dataset.savedState === '2:1:2'")
    page.reload()
    page.wait_for_selector("body[data-ready='true']", state="attached")
    assert page.evaluate("() => window.retouch.session.steps.length") == 2
    assert page.evaluate("() => window.retouch.session.index") == 1
    assert page.evaluate(IMAGE_URL_JS) == picture
    assert editor.mask_stats()["masked"] == masked
    assert page.locator("#history-list li").count() == 1
    assert page.evaluate("() => window.retouch.session.original.name") == "scene.png"
    editor.shot("restored")
    # The restored session keeps working: undo to the original, run again on it.
    page.click("#edit-undo")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#view-edit")
    editor.run_job()
    editor.wait_job("done")
    assert page.evaluate("() => window.retouch.session.steps.length") == 2


def test_opening_another_picture_asks_before_discarding_work(
    web_stack: Any, open_editor: Any, scene: Scene, tmp_path: Path
) -> None:
    other = scene_image(tmp_path / "other.png", size=(200, 150))
    editor = open_editor(web_stack)
    page = editor.page
    editor.open_image(scene.path)
    page.keyboard.press("x")
    editor.drag_image([(10, 10), (60, 60)])
    editor.wait_history(1)
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.set_input_files("#file-input", str(other.path))
    page.wait_for_timeout(300)
    assert asked and "mask will be discarded" in asked[0]
    assert page.evaluate("() => window.retouch.editor.width") == scene.width
    page.once("dialog", lambda dialog: dialog.accept())
    page.set_input_files("#file-input", str(other.path))
    page.wait_for_function(f"() => window.retouch.editor.width === {other.width}")


def touch(cdp: Any, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]},
    )


def test_pinch_zooms_and_pans_without_painting_and_one_finger_paints(
    web_stack: Any, browser: Any, scene: Scene, open_editor: Any
) -> None:
    editor = open_editor(web_stack, width=390, height=844, touch=True)
    page = editor.page
    editor.open_image(scene.path)
    cdp = page.context.new_cdp_session(page)
    scale = float(page.evaluate("() => window.retouch.editor.stage.viewport.scale"))
    cx, cy = editor.image_point(scene.width / 2, scene.height / 2)
    # Two fingers down, moving apart and to the right: zoom in and pan; nothing painted.
    touch(cdp, "touchStart", [(cx - 20, cy), (cx + 20, cy)])
    for step in range(1, 9):
        touch(cdp, "touchMove", [(cx - 20 - step * 8 + step * 3, cy), (cx + 20 + step * 8 + step * 3, cy)])
    touch(cdp, "touchEnd", [])
    zoomed = float(page.evaluate("() => window.retouch.editor.stage.viewport.scale"))
    assert zoomed > scale * 1.8, (scale, zoomed)
    assert editor.history_length() == 0
    assert editor.mask_stats()["masked"] == 0
    editor.shot("pinched")
    # One finger paints a stroke.
    editor.wait_view_stable()
    x0, y0 = editor.image_point(scene.width * 0.4, scene.height * 0.5)
    touch(cdp, "touchStart", [(x0, y0)])
    for step in range(1, 6):
        touch(cdp, "touchMove", [(x0 + step * 6, y0)])
    touch(cdp, "touchEnd", [])
    editor.wait_history(1)
    assert editor.mask_stats()["masked"] > 0
    # Every control is at least 44 px on a touch screen.
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, select, input, label.button, summary, a')]
             .filter((el) => el.checkVisibility && el.checkVisibility() && !el.classList.contains('visually-hidden-file')
               && el.getBoundingClientRect().right > 0)
             .map((el) => { const r = el.getBoundingClientRect(); return { id: el.id || el.textContent.trim().slice(0, 20),
               type: el.type || el.tagName, w: r.width, h: r.height }; })
             .filter((r) => (r.h < 44 || r.w < 24) && r.type !== 'range' && r.type !== 'checkbox' && r.type !== 'radio')"""
    )
    assert small == [], small
