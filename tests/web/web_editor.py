"""Driving the web editor in Chromium: the page object the web tests use, and their pictures."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from retouch.local import Stack, StackSettings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
API_KEY = "web-test-key"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"

#: Services every editor test needs behind the gateway.
REQUIRED = ("image_utils", "segmentation", "generation", "job_manager")


def start_stack(data_dir: Path, *, env: dict[str, str] | None = None, **settings: Any) -> Stack:
    """A local stack on free loopback ports with API keys on; fails the test with the reason if a
    service is missing or does not start."""
    stack = Stack(
        StackSettings(
            port=0,
            data_dir=data_dir,
            api_keys=API_KEY,
            env={"RETOUCH_LOG_LEVEL": "warning", **(env or {})},
            startup_timeout_s=240.0,
            stop_timeout_s=10.0,
            **settings,
        )
    )
    names = {spec.name for spec in stack.services}
    wanted = settings.get("only") or REQUIRED
    missing = [name for name in wanted if name not in names]
    if missing:
        pytest.fail(f"services not installed in this environment: {', '.join(missing)}")
    try:
        stack.start()
    except Exception as exc:
        pytest.fail(f"the local stack did not start: {exc}")
    return stack


#: Chromium logs every HTTP error answer of a fetch as a console error; tests that provoke one
#: on purpose allow exactly that status.
def http_status_message(status: int) -> str:
    return rf"Failed to load resource: the server responded with a status of {status}\b"


@dataclass(frozen=True)
class Scene:
    """A picture with one object: an ellipse at (cx, cy) with radii (rx, ry)."""

    path: Path
    width: int
    height: int
    cx: float
    cy: float
    rx: float
    ry: float

    def ellipse(self) -> dict[str, float]:
        return {"cx": self.cx, "cy": self.cy, "rx": self.rx, "ry": self.ry}


def scene_image(
    path: Path, size: tuple[int, int] = (320, 240), cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> Scene:
    """Write a textured background with a red ellipse on it; ``cast`` multiplies R, G, B (a
    colour cast for the white-balance preview)."""
    width, height = size
    rng = np.random.RandomState(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xx / max(1, width - 1)
    background = np.stack([40 + 20 * t, 120 + 40 * t, 150 - 40 * t], axis=-1)
    background += rng.uniform(-12, 12, size=(height, width, 3))
    cx, cy, rx, ry = width * 0.6, height * 0.5, width * 0.17, height * 0.19
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    obj = np.array([210, 50, 45], np.float32) + rng.uniform(-8, 8, size=(height, width, 3))
    pixels = np.where(inside[..., None], obj, background) * np.array(cast, np.float32)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(path)
    return Scene(path, width, height, cx, cy, rx, ry)


# JavaScript run in the page: statistics over canvases, so megabytes of pixels never cross over.
MASK_STATS_JS = """([id, e]) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let inObj = 0, inObjMasked = 0, out = 0, outMasked = 0, masked = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const m = d[(y * c.width + x) * 4 + 3] > 127;
    if (m) masked++;
    if (!e) continue;
    const inside = ((x - e.cx) / e.rx) ** 2 + ((y - e.cy) / e.ry) ** 2 <= 1;
    if (inside) { inObj++; if (m) inObjMasked++; } else { out++; if (m) outMasked++; }
  }
  return { width: c.width, height: c.height, masked,
           coverage: inObj ? inObjMasked / inObj : 0, spill: out ? outMasked / out : 0 };
}"""

RESULT_DIFF_JS = """(band) => {
  const get = (id) => { const c = document.getElementById(id);
    return c.getContext('2d').getImageData(0, 0, c.width, c.height).data; };
  const before = get('before-canvas'), after = get('after-canvas'), mask = get('mask-canvas');
  const w = document.getElementById('after-canvas').width, h = document.getElementById('after-canvas').height;
  if (before.length !== after.length || mask.length !== after.length) return { sizeMismatch: true };
  // Pixels within `band` (Chebyshev distance) of the mask may be blended; beyond it nothing may change.
  const near = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) near[i] = mask[i * 4 + 3] > 0 ? 1 : 0;
  const rows = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let v = 0; for (let k = Math.max(0, x - band); k <= Math.min(w - 1, x + band) && !v; k++) v = near[y * w + k];
    rows[y * w + x] = v; }
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let v = 0; for (let k = Math.max(0, y - band); k <= Math.min(h - 1, y + band) && !v; k++) v = rows[k * w + x];
    near[y * w + x] = v; }
  let inside = 0, insideChanged = 0, insideSum = 0, outside = 0, outsideChanged = 0;
  for (let p = 0, i = 0; p < w * h; p++, i += 4) {
    const d = Math.abs(before[i] - after[i]) + Math.abs(before[i + 1] - after[i + 1]) + Math.abs(before[i + 2] - after[i + 2]);
    if (mask[i + 3] > 127) { inside++; insideSum += d; if (d > 0) insideChanged++; }
    else if (!near[p]) { outside++; if (d > 0) outsideChanged++; }
  }
  return { inside, insideChanged, meanInside: inside ? insideSum / inside / 3 : 0, outside, outsideChanged };
}"""

CANVAS_PIXELS_EQUAL_JS = """([a, b]) => {
  const ca = document.getElementById(a), cb = document.getElementById(b);
  if (ca.width !== cb.width || ca.height !== cb.height) return false;
  const da = ca.getContext('2d').getImageData(0, 0, ca.width, ca.height).data;
  const db = cb.getContext('2d').getImageData(0, 0, cb.width, cb.height).data;
  for (let i = 0; i < da.length; i++) if (da[i] !== db[i]) return false;
  return true;
}"""


class EditorPage:
    """One browser tab on the editor, with what the tests do to it."""

    def __init__(self, context: BrowserContext, page: Page, test_name: str) -> None:
        self.context = context
        self.page = page
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.console_errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        self.stack: Stack | None = None
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    @classmethod
    def open(
        cls,
        browser: Browser,
        stack: Stack,
        test_name: str,
        *,
        api_key: str | None,
        size: tuple[int, int],
        query: str = "",
        touch: bool = False,
        locale: str | None = None,
    ) -> EditorPage:
        options: dict[str, Any] = {"viewport": {"width": size[0], "height": size[1]}, "accept_downloads": True}
        if touch:
            options.update(has_touch=True, is_mobile=True, device_scale_factor=2)
        if locale:
            options["locale"] = locale
        context = browser.new_context(**options)
        if api_key is not None:
            context.add_init_script(f"window.localStorage.setItem('retouch.apiKey', {json.dumps(api_key)});")
        page = context.new_page()
        editor = cls(context, page, test_name)
        editor.stack = stack
        url = stack.web_url
        assert url, "the stack serves no web editor"
        page.goto(f"{url}?status_interval=1000{query}")
        page.wait_for_selector("body[data-ready='true']", state="attached")
        return editor

    # -- console --------------------------------------------------------------------------------
    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            self.console_errors.append(f"console.error: {message.text} ({location})")

    def _on_page_error(self, error: Error) -> None:
        self.console_errors.append(f"uncaught: {error}")

    def allow_console(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (an expected HTTP error answer)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_console_errors(self) -> list[str]:
        return [e for e in self.console_errors if not any(p.search(e) for p in self.allowed)]

    def close(self) -> None:
        self.context.close()

    # -- artifacts ------------------------------------------------------------------------------
    def shot(self, state: str) -> Path:
        """Save a screenshot of the page in this state."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}--{state}.png"
        self.page.screenshot(path=str(path))
        return path

    # -- actions --------------------------------------------------------------------------------
    def open_image(self, path: Path) -> None:
        self.page.set_input_files("#file-input", str(path))
        self.page.wait_for_selector("body[data-has-image='true']", state="attached")
        self.page.wait_for_function("() => window.retouch.editor.hasImage")
        self.wait_view_stable()

    def wait_view_stable(self) -> None:
        """Wait until the picture's place on the page stops moving (late layout changes such as the
        status line filling in re-fit the view; a drag computed before that would land elsewhere)."""
        self.page.wait_for_function(
            """() => {
                 const s = window.retouch.editor.stage; const r = s.element.getBoundingClientRect();
                 const p = s.viewport.toStage(0, 0); const q = s.viewport.toStage(100, 100);
                 const key = [r.left, r.top, r.width, r.height, p.x, p.y, q.x, q.y].join(",");
                 const now = performance.now(); const last = window.__retouchViewKey;
                 if (!last || last.key !== key) { window.__retouchViewKey = { key, since: now }; return false; }
                 return now - last.since > 300;
               }""",
            polling=50,
        )

    def image_point(self, x: float, y: float) -> tuple[float, float]:
        """Page coordinates of image pixel (x, y) in the current view."""
        point: dict[str, float] = self.page.evaluate(
            """([x, y]) => { const s = window.retouch.editor.stage; const p = s.viewport.toStage(x, y);
                 const r = s.element.getBoundingClientRect(); return { x: r.left + p.x, y: r.top + p.y }; }""",
            [x, y],
        )
        return point["x"], point["y"]

    def click_image(self, x: float, y: float, *, exclude: bool = False, alt: bool = False) -> None:
        """Click image pixel (x, y); ``exclude`` with the right button, ``alt`` holding Alt."""
        px, py = self.image_point(x, y)
        if alt:
            self.page.keyboard.down("Alt")
        try:
            self.page.mouse.click(px, py, button="right" if exclude else "left")
        finally:
            if alt:
                self.page.keyboard.up("Alt")

    def drag_image(self, points: list[tuple[float, float]]) -> None:
        """Press at the first image point, move through the others, release at the last."""
        first = self.image_point(*points[0])
        self.page.mouse.move(*first)
        self.page.mouse.down()
        for point in points[1:]:
            self.page.mouse.move(*self.image_point(*point), steps=4)
        self.page.mouse.up()

    def history_length(self) -> int:
        return int(self.page.evaluate("() => window.retouch.editor.history.index"))

    def wait_history(self, index: int, timeout: float = 60_000) -> None:
        """Wait until the mask history holds ``index`` edits (and no smart request runs)."""
        self.page.wait_for_function(
            "(n) => window.retouch.editor.history.index === n && !window.retouch.editor.smart.busy",
            arg=index,
            timeout=timeout,
        )

    def mask_stats(self, scene: Scene | None = None, canvas: str = "mask-canvas") -> dict[str, Any]:
        stats: dict[str, Any] = self.page.evaluate(MASK_STATS_JS, [canvas, scene.ellipse() if scene else None])
        return stats

    def result_diff(self, band: int = 16) -> dict[str, Any]:
        """How the result differs from its input inside the mask, and beyond ``band`` pixels of
        it (the generation service blends a narrow band around the mask; the rest must be
        bit-identical)."""
        diff: dict[str, Any] = self.page.evaluate(RESULT_DIFF_JS, band)
        return diff

    def canvases_equal(self, a: str, b: str) -> bool:
        return bool(self.page.evaluate(CANVAS_PIXELS_EQUAL_JS, [a, b]))

    def run_job(self) -> None:
        self.page.click("#run")

    def wait_job(self, status: str, timeout: float = 120_000) -> None:
        """Wait until the job ends (or reaches ``status``); fail with the page's words if it ended otherwise."""
        self.page.wait_for_function(
            """(want) => { const s = document.getElementById('progress').dataset.status;
                 return s === want || ['done', 'error', 'cancelled'].includes(s); }""",
            arg=status,
            timeout=timeout,
        )
        got = self.job_status()
        assert got == status, (
            f"the job ended {got}: {self.page.inner_text('#job-status')!r}; error: {self.error_text()!r}"
        )

    def job_status(self) -> str:
        return str(self.page.get_attribute("#progress", "data-status"))

    def error_text(self) -> str:
        return self.page.inner_text("#error-text") if self.page.is_visible("#error-banner") else ""
