"""Accessibility and languages: axe-core (from npm, tests/web/package.json) finds no serious
violation on the empty, loaded, running and result views; the language switch changes every
visible string; the browser's language picks Vietnamese; screenshots at phone, laptop and
desktop sizes in both languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web_editor import Scene

pytestmark = pytest.mark.web

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

#: Visible strings that are the same in every language (names, numbers, units).
SAME_IN_EVERY_LANGUAGE = {"retouch", "1:1", "\u2212", "+", "English", "Tiếng Việt", "Engine"}

VISIBLE_TEXT_JS = """() => {
  const out = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    // The live region is not on screen: it repeats what was said, in the language it was said in.
    if (!text || !el || el.closest('select#lang-select') || el.closest('#status-list') || el.closest('#announcer')) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    out.add(text);
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
    if (el.checkVisibility && !el.checkVisibility()) continue;
    for (const attr of ['aria-label', 'title', 'placeholder']) {
      const value = (el.getAttribute(attr) || '').trim();
      if (value) out.add(value);
    }
  }
  return [...out];
}"""


def axe_serious(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
             const result = await window.axe.run(document, { resultTypes: ['violations'] });
             return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
               .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + n.failureSummary) }));
           }"""
    )
    return found


@pytest.fixture
def axe_available() -> None:
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm ci --prefix tests/web` (.ci/run does)")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_axe_finds_no_serious_violation_in_any_view(
    web_stack: Any, open_editor: Any, scene: Scene, axe_available: None, scheme: str
) -> None:
    editor = open_editor(web_stack)
    page = editor.page
    page.emulate_media(color_scheme=scheme)
    assert axe_serious(page) == [], "empty view"
    editor.open_image(scene.path)
    page.wait_for_function("() => window.retouch.session.steps[0].assetId")
    assert axe_serious(page) == [], "loaded view"
    # The running view, as the page draws it for a job in progress.
    page.evaluate(
        """() => { const p = document.getElementById('progress'); p.hidden = false;
             document.getElementById('run').disabled = true; document.getElementById('cancel').hidden = false;
             window.retouch.runner.onUpdate({ status: 'processing', stage: 'denoising', progress: 0.4,
                                               current_step: 4, total_steps: 10 }); }"""
    )
    assert axe_serious(page) == [], "running view"
    page.evaluate(
        """() => { document.getElementById('run').disabled = false; document.getElementById('cancel').hidden = true; }"""
    )
    page.keyboard.press("x")
    editor.drag_image([(10, 10), (60, 60)])
    editor.wait_history(1)
    editor.run_job()
    editor.wait_job("done")
    assert axe_serious(page) == [], "result view"
    # Focus came back to the picture after the job, not to <body>.
    assert page.evaluate("() => document.activeElement.id") == "stage"


def test_the_language_switch_changes_every_visible_string(web_stack: Any, open_editor: Any, scene: Scene) -> None:
    editor = open_editor(web_stack, locale="en-GB")
    page = editor.page
    editor.open_image(scene.path)
    page.keyboard.press("x")
    editor.drag_image([(10, 10), (60, 60)])
    editor.wait_history(1)
    editor.run_job()
    editor.wait_job("done")
    page.click("#advanced summary")
    page.wait_for_function("() => document.getElementById('status-button').dataset.state === 'online'")
    for view in ("result", "edit"):
        page.click(f"#view-{view}")
        english = set(page.evaluate(VISIBLE_TEXT_JS))
        assert page.evaluate("() => document.documentElement.lang") == "en"
        page.select_option("#lang-select", "vi")
        vietnamese = set(page.evaluate(VISIBLE_TEXT_JS))
        assert page.evaluate("() => document.documentElement.lang") == "vi"
        unchanged = sorted(
            s for s in english & vietnamese if s not in SAME_IN_EVERY_LANGUAGE and not s.replace(" ", "").isdigit()
        )
        unchanged = [s for s in unchanged if not s.endswith((" px", "%"))]
        assert unchanged == [], f"{view} view: not translated: {unchanged}"
        editor.shot(f"{view}-vi")
        page.select_option("#lang-select", "en")
        assert set(page.evaluate(VISIBLE_TEXT_JS)) == english
    # Remembered across a reload.
    page.select_option("#lang-select", "vi")
    page.reload()
    page.wait_for_selector("body[data-ready='true']", state="attached")
    assert page.evaluate("() => document.documentElement.lang") == "vi"
    assert page.inner_text("#run") == "Chạy"


def test_the_browsers_language_picks_vietnamese(web_stack: Any, open_editor: Any) -> None:
    editor = open_editor(web_stack, locale="vi-VN")
    page = editor.page
    assert page.evaluate("() => document.documentElement.lang") == "vi"
    assert page.inner_text("label[for='file-input']") == "Mở ảnh…"
    assert page.input_value("#lang-select") == "vi"


@pytest.mark.parametrize(
    ("name", "width", "height", "touch"),
    [("phone", 390, 844, True), ("laptop", 1366, 768, False), ("desktop", 1920, 1080, False)],
)
def test_screenshots_at_phone_laptop_and_desktop_sizes(
    web_stack: Any, open_editor: Any, scene: Scene, name: str, width: int, height: int, touch: bool
) -> None:
    editor = open_editor(web_stack, width=width, height=height, touch=touch)
    page = editor.page
    editor.shot(f"{name}-empty")
    editor.open_image(scene.path)
    page.wait_for_function("() => window.retouch.session.steps[0].assetId")
    page.keyboard.press("x")
    editor.drag_image([(scene.cx - scene.rx, scene.cy - scene.ry), (scene.cx + scene.rx, scene.cy + scene.ry)])
    editor.wait_history(1)
    editor.shot(f"{name}-masked")
    editor.run_job()
    editor.wait_job("done")
    assert page.inner_text("#job-status") == "Done"
    editor.shot(f"{name}-result")
    # Nothing overflows the page sideways.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.select_option("#lang-select", "vi")
    editor.shot(f"{name}-result-vi")
