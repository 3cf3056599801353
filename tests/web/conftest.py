"""Fixtures for the web-editor tests: the real local stack, Debian's Chromium, and an editor page
that fails the test on any console error and saves screenshots under ``tests/artifacts/web/``."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from web_editor import API_KEY, CHROMIUM, CHROMIUM_ARGS, EditorPage, scene_image, start_stack

from retouch.local import Stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright
    from web_editor import Scene


@pytest.fixture(scope="session")
def web_stack(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack with classic engines, API key ``API_KEY``, generation reported as a
    scale-to-zero service (so the indicator shows it sleeping). Asks for ``playwright`` first so
    that without a browser the tests skip before anything starts."""
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
    """``open_editor(stack, api_key=API_KEY, width=1280, height=800, touch=False, locale=None)`` -> an
    :class:`EditorPage` (``touch``: a phone's touch screen, coarse pointer).
    Every page it opened is closed afterwards; a console error on any of them fails the test."""
    pages: list[EditorPage] = []

    def opener(
        stack: Stack,
        *,
        api_key: str | None = API_KEY,
        width: int = 1280,
        height: int = 800,
        query: str = "",
        touch: bool = False,
        locale: str | None = None,
    ) -> EditorPage:
        editor = EditorPage.open(
            browser,
            stack,
            request.node.name,
            api_key=api_key,
            size=(width, height),
            query=query,
            touch=touch,
            locale=locale,
        )
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    """A generated picture: a red ellipse (the object) on a textured blue-green background."""
    return scene_image(tmp_path / "scene.png")


os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
