"""The editor page itself: opening pictures (picker, drop, paste, EXIF orientation), the fitted
view with zoom and pan, both screen sizes, and accessibility basics."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from web_editor import Scene, scene_image

pytestmark = pytest.mark.web

DISPATCH_FILE_JS = """async ([kind, b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: 'image/png' }));
  if (kind === 'paste') window.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true }));
  else document.getElementById('stage').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
}"""


def image_size(editor: Any) -> tuple[int, int]:
    size = editor.page.evaluate(
        "() => [document.getElementById('image-canvas').width, document.getElementById('image-canvas').height]"
    )
    return int(size[0]), int(size[1])


def test_open_by_picker_shows_the_picture_fitted_and_exact(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.shot("empty")
    assert editor.page.is_visible("#stage-empty")
    editor.open_image(scene.path)
    editor.shot("opened")
    assert image_size(editor) == (scene.width, scene.height)
    # The picture is drawn pixel for pixel (what is sent to the services is what was opened).
    pixels = editor.page.evaluate(
        "() => Array.from(document.getElementById('image-canvas').getContext('2d').getImageData(10, 20, 1, 1).data)"
    )
    with Image.open(scene.path) as img:
        assert tuple(pixels[:3]) == img.convert("RGB").getpixel((10, 20))
    # Fitted: the whole picture is inside the stage and centred.
    box = editor.page.evaluate(
        """() => { const s = document.getElementById('stage').getBoundingClientRect();
                   const c = document.getElementById('image-canvas').getBoundingClientRect();
                   return { s: [s.left, s.top, s.right, s.bottom], c: [c.left, c.top, c.right, c.bottom] }; }"""
    )
    s, c = box["s"], box["c"]
    assert s[0] <= c[0] and s[1] <= c[1] and c[2] <= s[2] and c[3] <= s[3]
    assert abs((c[0] - s[0]) - (s[2] - c[2])) < 2


def test_large_picture_is_fitted_then_zoomed_and_panned(web_stack: Any, open_editor: Any, tmp_path: Path) -> None:
    big = scene_image(tmp_path / "big.png", size=(2400, 1600))
    editor = open_editor(web_stack)
    editor.open_image(big.path)
    page = editor.page
    fitted = float(page.evaluate("() => window.retouch.editor.stage.viewport.scale"))
    assert fitted < 0.5
    page.click("#zoom-in")
    zoomed = float(page.evaluate("() => window.retouch.editor.stage.viewport.scale"))
    assert zoomed == pytest.approx(fitted * 1.25)
    assert page.inner_text("#zoom-level") == f"{round(zoomed * 100)}%"
    # The wheel zooms around the pointer: the picture point under it stays put.
    x, y = editor.image_point(1200, 800)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -200)
    page.wait_for_function("(s) => window.retouch.editor.stage.viewport.scale > s", arg=zoomed)
    after = editor.image_point(1200, 800)
    assert after[0] == pytest.approx(x, abs=1) and after[1] == pytest.approx(y, abs=1)
    # Space + drag pans without painting.
    page.focus("#stage")
    before = page.evaluate("() => [window.retouch.editor.stage.viewport.tx, window.retouch.editor.stage.viewport.ty]")
    page.keyboard.down("Space")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=5)
    page.mouse.up()
    page.keyboard.up("Space")
    moved = page.evaluate("() => [window.retouch.editor.stage.viewport.tx, window.retouch.editor.stage.viewport.ty]")
    assert moved[0] - before[0] == pytest.approx(120, abs=1) and moved[1] - before[1] == pytest.approx(60, abs=1)
    assert editor.history_length() == 0
    editor.shot("zoomed-panned")
    page.click("#zoom-fit")
    assert float(page.evaluate("() => window.retouch.editor.stage.viewport.scale")) == pytest.approx(fitted)


def test_exif_orientation_is_respected(web_stack: Any, open_editor: Any, tmp_path: Path) -> None:
    # Stored 60 x 30, EXIF orientation 6: shown rotated, 30 wide and 60 tall.
    stored = Image.new("RGB", (60, 30), (200, 30, 30))
    stored.paste((30, 30, 200), (0, 0, 10, 30))  # the stored left edge becomes the top after rotation
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif)
    editor = open_editor(web_stack)
    editor.open_image(path)
    assert image_size(editor) == (30, 60)
    top = editor.page.evaluate(
        "() => Array.from(document.getElementById('image-canvas').getContext('2d').getImageData(15, 2, 1, 1).data)"
    )
    assert top[2] > 150 and top[0] < 100  # blue on top
    editor.shot("exif")


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_open_by_drop_and_paste(web_stack: Any, open_editor: Any, scene: Scene, kind: str) -> None:
    editor = open_editor(web_stack)
    b64 = base64.b64encode(scene.path.read_bytes()).decode()
    editor.page.evaluate(DISPATCH_FILE_JS, [kind, b64, "scene.png"])
    editor.page.wait_for_function("() => window.retouch.editor.hasImage")
    assert image_size(editor) == (scene.width, scene.height)


def test_a_file_that_is_not_an_image_gives_a_readable_error(web_stack: Any, open_editor: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"this is not a picture")
    editor = open_editor(web_stack)
    editor.page.set_input_files("#file-input", str(bogus))
    editor.page.wait_for_selector("#error-banner", state="visible")
    assert "could not be read as an image" in editor.error_text()
    assert not editor.page.evaluate("() => window.retouch.editor.hasImage")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_layout_fits_the_screen(web_stack: Any, open_editor: Any, scene: Scene, width: int, height: int) -> None:
    editor = open_editor(web_stack, width=width, height=height)
    editor.open_image(scene.path)
    page = editor.page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    for selector in ("label[for='file-input']", "#stage", "#run", "#status-button", "[data-tool='smart']"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["width"] > 0, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, selector
    stage = page.locator("#stage").bounding_box()
    assert stage is not None and stage["height"] >= 250
    editor.shot(f"{width}x{height}")


def test_every_control_has_a_label_and_is_reachable_by_keyboard(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, textarea, [tabindex]')]
             .filter((el) => el.offsetParent !== null || el.classList.contains('visually-hidden-file'))
             .filter((el) => {
               const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
               const labels = el.labels ? [...el.labels].map((l) => l.textContent.trim()).join('') : '';
               return !name && !labels && !el.getAttribute('aria-labelledby') && !el.title;
             }).map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert unlabeled == []
    # Tab from the top reaches the picker, the tools, the stage and Run, each with a visible focus ring.
    page.focus("body")
    reached: set[str] = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => { let el = document.activeElement; const id = el.id || el.dataset.tool || el.tagName;
                       // A hidden file input shows its focus on the label that stands for it.
                       if (el.type === 'file') el = el.labels[0];
                       const st = getComputedStyle(el);
                       return { id, outline: st.outlineStyle, width: parseFloat(st.outlineWidth) }; }"""
        )
        reached.add(info["id"])
        if info["id"] != "BODY":
            assert info["outline"] != "none" and info["width"] >= 2, info
    assert {"file-input", "brush", "smart", "stage", "run", "status-button", "prompt"} <= reached
    # Tools answer their keys, and [ ] change the brush size.
    page.focus("#stage")
    page.keyboard.press("s")
    assert page.get_attribute("[data-tool='smart']", "aria-pressed") == "true"
    page.keyboard.press("b")
    size = int(page.evaluate("() => window.retouch.editor.brushSize"))
    page.keyboard.press("]")
    assert int(page.evaluate("() => window.retouch.editor.brushSize")) > size
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert int(page.evaluate("() => window.retouch.editor.brushSize")) < size
    assert page.inner_text("#brush-size-out") == f"{page.evaluate('() => window.retouch.editor.brushSize')} px"
    # Arrow keys and Enter paint at a keyboard cursor.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert editor.history_length() == 1
    assert editor.mask_stats()["masked"] > 0


def test_space_pans_over_the_picture_even_with_a_button_focused(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack)
    editor.open_image(scene.path)
    page = editor.page
    page.keyboard.press("x")
    editor.drag_image([(20, 20), (60, 60)])
    editor.wait_history(1)
    page.focus("#mask-clear")
    x, y = editor.image_point(100, 100)
    page.mouse.move(x, y)
    before = page.evaluate("() => window.retouch.editor.stage.viewport.tx")
    page.keyboard.down("Space")
    page.mouse.down()
    page.mouse.move(x + 50, y, steps=3)
    page.mouse.up()
    page.keyboard.up("Space")
    assert page.evaluate("() => window.retouch.editor.stage.viewport.tx") - before == pytest.approx(50, abs=1)
    # The focused Clear button was not pressed by the Space key.
    assert editor.history_length() == 1
    assert editor.mask_stats()["masked"] == 40 * 40
