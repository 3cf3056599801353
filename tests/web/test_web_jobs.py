"""Running edits from the editor against the real stack (classic engines): removal end to end,
results, history and downloads, insertion with a reference, white balance with its instant
preview, the stream resumed with Last-Event-ID, and readable errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from web_editor import API_KEY, Scene, http_status_message, scene_image

pytestmark = pytest.mark.web


def smart_select(editor: Any, scene: Scene) -> None:
    editor.page.click("[data-tool='smart']")
    editor.click_image(scene.cx - scene.rx * 0.4, scene.cy)
    editor.wait_history(1)
    editor.click_image(scene.cx + scene.rx * 0.4, scene.cy - scene.ry * 0.3)
    editor.wait_history(2)
    # A little margin so the object's anti-aliased rim is inside the edit.
    editor.page.fill("#mask-amount", "3")
    editor.page.click("[data-mask-op='grow']")
    editor.wait_history(3)


def test_removal_runs_to_done_and_changes_only_the_masked_area(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    smart_select(editor, scene)
    assert editor.mask_stats(scene)["coverage"] > 0.95
    editor.shot("masked")
    page = editor.page
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(f"{r.method} {r.url.split('/api/', 1)[-1]}") if "/api/generate" in r.url else None,
    )
    editor.run_job()
    editor.wait_job("done")
    editor.shot("done")
    assert page.inner_text("#job-status") == "Done"
    assert page.evaluate("() => document.getElementById('job-progress').value") == 1
    assert page.evaluate("() => window.retouch.view") == "result"
    assert any(s.startswith("POST generate/async") for s in seen)
    assert any(s.startswith("GET generate/stream/") for s in seen)
    diff = editor.result_diff()
    assert diff.get("sizeMismatch") is None
    assert diff["outsideChanged"] == 0, diff
    assert diff["insideChanged"] > 0.9 * diff["inside"], diff
    assert diff["meanInside"] > 40, diff
    # The before/after slider moves the split, by pointer and by keyboard.
    page.fill("#compare-slider", "20")
    assert page.evaluate("() => window.retouch.results.compare.split") == pytest.approx(0.2)
    assert page.evaluate("() => document.getElementById('after-canvas').style.clipPath") == "inset(0px 0px 0px 20%)"
    editor.shot("compare-20")
    # The history holds it; the result downloads as PNG and WebP from the gateway.
    assert page.locator("#history-list li").count() == 1
    for fmt, magic in (("png", b"\x89PNG"), ("webp", b"RIFF")):
        with page.expect_download() as info:
            page.click(f"#download-{fmt}")
        data = Path(info.value.path()).read_bytes()
        assert data.startswith(magic), fmt
        assert info.value.suggested_filename.endswith(f".{fmt}")
        with Image.open(io.BytesIO(data)) as img:
            assert img.size == (scene.width, scene.height)
    # Use as input: the result becomes the picture to edit, with a fresh mask.
    page.click("#use-as-input")
    assert page.evaluate("() => window.retouch.view") == "edit"
    assert editor.canvases_equal("image-canvas", "after-canvas")
    assert editor.mask_stats()["masked"] == 0


def test_history_restores_earlier_results(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.keyboard.press("x")
    editor.drag_image([(20, 20), (80, 80)])
    editor.wait_history(1)
    editor.run_job()
    editor.wait_job("done")
    first = page.evaluate("() => document.getElementById('after-canvas').toDataURL()")
    page.click("#view-edit")
    page.keyboard.press("x")
    editor.drag_image([(scene.cx - scene.rx, scene.cy - scene.ry), (scene.cx + scene.rx, scene.cy + scene.ry)])
    editor.wait_history(2)
    editor.run_job()
    page.wait_for_function("() => document.querySelectorAll('#history-list li').length === 2")
    editor.wait_job("done")
    second = page.evaluate("() => document.getElementById('after-canvas').toDataURL()")
    assert first != second
    editor.shot("history")
    # The list is newest first; the older one comes back on click.
    page.click("#history-list li:nth-child(2) button")
    assert page.evaluate("() => document.getElementById('after-canvas').toDataURL()") == first
    assert page.get_attribute("#history-list li:nth-child(2) button", "aria-pressed") == "true"
    assert "Result 1" in page.inner_text("#result-caption")


def test_insertion_with_a_reference_cut_out(web_stack: Any, open_editor: Any, scene: Scene, tmp_path: Path) -> None:
    reference = scene_image(tmp_path / "reference.png", size=(200, 160), cast=(0.4, 1.3, 1.3))
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.check("input[name='task'][value='insertion']")
    assert page.is_visible("#reference")
    page.set_input_files("#ref-file", str(reference.path))
    page.wait_for_selector("#ref-area.has-image")
    # Click the object on the reference (its own smart mask), then see the cut-out preview.
    box = page.locator("#ref-canvas").bounding_box()
    assert box is not None
    scale = box["width"] / reference.width
    page.mouse.click(box["x"] + reference.cx * scale, box["y"] + reference.cy * scale)
    page.wait_for_function("() => document.getElementById('ref-cutout').width > 0", timeout=60_000)
    cut = page.evaluate(
        "() => [document.getElementById('ref-cutout').width, document.getElementById('ref-cutout').height]"
    )
    # The cut-out is cropped to the object.
    assert cut[0] == pytest.approx(2 * reference.rx, abs=8) and cut[1] == pytest.approx(2 * reference.ry, abs=8)
    editor.shot("reference")
    # Where to insert: a box on the target's background.
    page.keyboard.press("x")
    editor.drag_image([(20, 30), (90, 100)])
    editor.wait_history(1)
    sent: list[dict[str, Any]] = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/api/generate/async") else None)
    editor.run_job()
    editor.wait_job("done")
    editor.shot("inserted")
    body = sent[0]
    assert body["task_type"] == "insertion"
    assert body["reference_image"] and body["reference_mask_R"] and body["mask"]
    assert body["mask_tool_type"] == "box"
    diff = editor.result_diff()
    assert diff["outsideChanged"] == 0, diff
    assert diff["insideChanged"] > 0.5 * diff["inside"], diff


def test_insertion_without_a_reference_says_what_is_missing(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.check("input[name='task'][value='insertion']")
    page.keyboard.press("x")
    editor.drag_image([(20, 30), (90, 100)])
    editor.wait_history(1)
    editor.run_job()
    page.wait_for_selector("#error-banner", state="visible")
    assert "reference picture" in editor.error_text()
    page.check("input[name='task'][value='removal']")
    page.click("#mask-clear")
    editor.run_job()
    page.wait_for_function("() => document.getElementById('error-text').textContent.includes('needs a mask')")


def test_white_balance_preview_then_job(web_stack: Any, open_editor: Any, tmp_path: Path) -> None:
    # A grey scene under a warm cast: balanced, its channel means come together.
    rng = np.random.RandomState(3)
    grey = np.linspace(60, 200, 320, dtype=np.float32)[None, :, None] + rng.uniform(-10, 10, (240, 320, 1))
    warm = np.clip(grey * np.array([1.25, 1.0, 0.7], np.float32), 0, 255).astype(np.uint8)
    path = tmp_path / "warm.png"
    Image.fromarray(warm, "RGB").save(path)
    editor = open_editor(web_stack)
    editor.open_image(path)
    page = editor.page
    page.check("input[name='task'][value='white-balance']")
    page.wait_for_function(
        "() => document.getElementById('result-caption').textContent.includes('preview')", timeout=30_000
    )
    editor.shot("preview")
    spreads = page.evaluate(
        """() => ['before-canvas', 'after-canvas'].map((id) => { const c = document.getElementById(id);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const m = [0, 0, 0];
             for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }
             return (Math.max(...m) - Math.min(...m)) / (d.length / 4); })"""
    )
    assert spreads[0] > 40
    assert spreads[1] < spreads[0] / 4, spreads
    assert page.locator("#history-list li").count() == 0  # a preview is not a result
    # No mask is needed to run it.
    editor.run_job()
    editor.wait_job("done")
    assert page.locator("#history-list li").count() == 1
    assert "White balance" in page.inner_text("#result-caption")


def test_advanced_settings_are_sent_and_kept_per_task(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.click("#advanced summary")
    # Nothing is filled in for the user: empty fields leave the server's per-task defaults.
    assert (
        page.input_value("#steps") == "" and page.input_value("#guidance") == "" and page.input_value("#prompt") == ""
    )
    page.fill("#steps", "7")
    page.fill("#guidance", "2.5")
    page.fill("#negative-prompt", "blurry")
    page.uncheck("#seed-random")
    page.fill("#seed", "1234")
    # Another task has its own values; coming back restores what was typed.
    page.check("input[name='task'][value='white-balance']")
    assert page.input_value("#steps") == ""
    page.check("input[name='task'][value='removal']")
    assert page.input_value("#steps") == "7"
    page.keyboard.press("Escape")
    page.focus("#stage")
    page.keyboard.press("x")
    editor.drag_image([(20, 20), (60, 60)])
    editor.wait_history(1)
    sent: list[dict[str, Any]] = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/api/generate/async") else None)
    editor.run_job()
    editor.wait_job("done")
    body = sent[0]
    assert body["num_inference_steps"] == 7
    assert body["true_cfg_scale"] == 2.5
    assert body["negative_prompt"] == "blurry"
    assert body["seed"] == 1234
    assert body["task_type"] == "removal" and body["prompt"] == ""
    # A bad value is refused in the page with the field named, before anything is sent.
    page.fill("#steps", "500")
    editor.run_job()
    page.wait_for_selector("#error-banner", state="visible")
    assert "Steps must be a whole number from 1 to 100" in editor.error_text()
    assert page.evaluate("() => document.activeElement.id") == "steps"
    # Reset empties the field: the engine's own default applies (and is what progress reports).
    page.click("#reset-defaults")
    assert page.input_value("#steps") == ""
    # Left empty, steps and guidance are not sent at all.
    sent.clear()
    editor.run_job()
    editor.wait_job("done")
    assert "num_inference_steps" not in sent[0] and "true_cfg_scale" not in sent[0], sent[0]


def test_the_event_stream_resumes_with_last_event_id(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    streams: list[dict[str, str]] = []

    def cut_first_stream(route: Any) -> None:
        streams.append(dict(route.request.headers))
        if len(streams) > 1:
            route.continue_()
            return
        # Ask for the whole history (ids are after "0"), deliver its first event only, then end
        # the stream as a dropped connection would.
        response = route.fetch(headers={**route.request.headers, "last-event-id": "0"})
        first = next(block for block in response.text().split("\n\n") if "\ndata:" in f"\n{block}")
        assert '"type":"queued"' in first
        route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=first + "\n\n")

    page.route("**/api/generate/stream/**", cut_first_stream)
    page.keyboard.press("x")
    editor.drag_image([(20, 20), (60, 60)])
    editor.wait_history(1)
    editor.run_job()
    editor.wait_job("done")
    assert len(streams) >= 2
    assert "last-event-id" not in streams[0]
    assert streams[1].get("last-event-id"), streams[1]
    assert page.locator("#history-list li").count() == 1


def test_wrong_api_key_gives_a_readable_error_and_a_key_field(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack, api_key="not-the-key")
    editor.allow_console(http_status_message(401))
    page = editor.page
    page.wait_for_function("() => document.getElementById('status-button').dataset.state === 'auth'")
    # A key was sent and refused: the page says so (not merely that one is needed).
    assert page.inner_text("#status-text") == "API key refused"
    assert page.is_visible("#key-panel")
    assert "refused this API key" in page.inner_text("#key-problem")
    editor.open_image(scene.path)
    editor.drag_image([(20, 20), (60, 60)])
    editor.wait_history(1)
    editor.run_job()
    page.wait_for_selector("#error-banner", state="visible")
    message = editor.error_text()
    editor.shot("wrong-key")
    assert "The server needs a valid API key" in message and "Authorization: Bearer" in message, message
    assert editor.job_status() in ("error", "idle")
    # Typing the right key fixes it: the status turns online and a run succeeds.
    page.fill("#api-key", API_KEY)
    page.click("#key-panel button[type='submit']")
    assert page.is_hidden("#key-panel")
    page.wait_for_function("() => document.getElementById('status-button').dataset.state === 'online'")
    assert page.evaluate("() => localStorage.getItem('retouch.apiKey')") == API_KEY
    editor.run_job()
    editor.wait_job("done")
    assert editor.error_text() == ""


def test_the_engine_menu_offers_only_what_health_reports(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    # Wait for a health answer, then compare the menu with what it says generation serves.
    page.wait_for_function("() => document.getElementById('status-button').dataset.state === 'online'")
    health = page.evaluate(
        """async () => (await (await fetch('/api/system/health',
             { headers: { Authorization: 'Bearer ' + localStorage.getItem('retouch.apiKey') } })).json())"""
    )
    served = health["services"]["generation"].get("engines") or []
    page.wait_for_function("(n) => document.getElementById('engine').options.length === n", arg=len(served) + 1)
    options = page.evaluate("() => [...document.getElementById('engine').options].map((o) => o.value)")
    assert options == ["", *served]
    assert "qwen" not in options  # this stack serves the classic engine only


def test_a_refused_request_shows_the_services_reason(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    # A request the jobs service refuses: the page shows its detail, not a generic failure.
    editor = open_editor(web_stack)
    editor.allow_console(http_status_message(422))
    editor.open_image(scene.path)
    page = editor.page
    page.keyboard.press("x")
    editor.drag_image([(20, 20), (60, 60)])
    editor.wait_history(1)
    page.click("#advanced summary")
    page.evaluate(
        """() => { const o = document.createElement('option'); o.value = 'no-such-engine'; o.textContent = 'x';
             document.getElementById('engine').append(o); document.getElementById('engine').value = 'no-such-engine'; }"""
    )
    editor.run_job()
    page.wait_for_selector("#error-banner", state="visible")
    message = editor.error_text()
    editor.shot("refused")
    assert message.startswith("Could not start the job. Some input was not accepted"), message
    assert "no-such-engine" in message, message
    assert editor.job_status() == "error"
