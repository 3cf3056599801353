"""Fixtures for the web-editor tests: the real local stack, Debian's Chromium, and an editor page
that fails the test on any console error and saves screenshots under ``tests/artifacts/web/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from web_editor import API_KEY, CHROMIUM, CHROMIUM_ARGS, EditorPage, scene_image

from retouch.local import Stack, StackSettings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

    from web_editor import Scene

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
            startup_timeout=240.0,
            stop_timeout=10.0,
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
    except Exception as exc:  # noqa: BLE001 - any start-up failure fails the test with its reason
        pytest.fail(f"the local stack did not start: {exc}")
    return stack


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack with classic engines, API key ``API_KEY``, generation reported as a
    scale-to-zero service (so the indicator shows it sleeping)."""
    stack = start_stack(tmp_path_factory.mktemp("web-stack"), env={"RETOUCH_SCALE_TO_ZERO": "generation"})
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the web tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_editor(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``open_editor(stack, api_key=API_KEY, width=1280, height=800)`` -> an :class:`EditorPage`.
    Every page it opened is closed afterwards; a console error on any of them fails the test."""
    pages: list[EditorPage] = []

    def opener(
        stack: Stack, *, api_key: str | None = API_KEY, width: int = 1280, height: int = 800, query: str = ""
    ) -> EditorPage:
        editor = EditorPage.open(browser, stack, request.node.name, api_key=api_key, size=(width, height), query=query)
        pages.append(editor)
        return editor

    yield opener
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    errors = []
    for editor in pages:
        if failed:
            # What the page showed when the test failed, and what it said.
            editor.shot("failure")
            print(f"{editor.name}: status={editor.page.inner_text('#status-text')!r} error={editor.error_text()!r}")
            print(f"job: {editor.page.inner_text('#job-status')!r}")
            for name, proc in (editor.stack.processes if editor.stack else {}).items():
                print(f"--- {name}:", *proc.tail()[-12:], sep="\n  ")
        errors.extend(editor.unexpected_console_errors())
        editor.close()
    if errors:
        pytest.fail("console errors on the page:\n" + "\n".join(errors))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can tell that the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    """A generated picture: a red ellipse (the object) on a textured blue-green background."""
    return scene_image(tmp_path / "scene.png")


os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
