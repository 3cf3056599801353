"""The server status indicator: online with the sleeping scale-to-zero service, degraded naming
the service that was turned off, offline while the gateway is down, and back."""

from __future__ import annotations

from typing import Any

import pytest
from web_editor import http_status_message

pytestmark = pytest.mark.web


def wait_status(editor: Any, state: str, text: str = "", timeout: float = 30_000) -> str:
    editor.page.wait_for_function(
        """([state, text]) => { const b = document.getElementById('status-button');
             return b.dataset.state === state && document.getElementById('status-text').textContent.includes(text); }""",
        arg=[state, text],
        timeout=timeout,
    )
    return str(editor.page.inner_text("#status-text"))


def test_indicator_follows_the_services(web_stack: Any, open_editor: Any) -> None:
    editor = open_editor(web_stack)
    page = editor.page
    # Generation scales to zero in this stack and has not been used: sleeping, not broken.
    assert wait_status(editor, "online") == "Online (Generation sleeping)"
    page.click("#status-button")
    assert page.get_attribute("#status-button", "aria-expanded") == "true"
    rows = {str(li.get_attribute("data-service")): li.inner_text() for li in page.locator("#status-list li").all()}
    assert set(rows) == {"generation", "segmentation", "image_utils", "job_manager"}
    assert "sleeping" in rows["generation"]
    assert "ready" in rows["segmentation"] and " ms" in rows["segmentation"]
    editor.shot("online")
    page.keyboard.press("Escape")
    assert page.is_hidden("#status-panel")

    web_stack.kill("segmentation")
    try:
        assert wait_status(editor, "degraded", "Smart mask") == "Degraded: Smart mask down"
        page.click("#status-button")
        row = page.locator("#status-list li[data-service='segmentation']")
        assert "down" in row.inner_text()
        assert row.locator(".service-error").inner_text()  # the gateway's reason is shown
        editor.shot("degraded")
    finally:
        web_stack.restart("segmentation")
    wait_status(editor, "online")

    # The gateway itself gone: offline (the browser logs the refused connections).
    editor.allow_console(r"net::ERR_CONNECTION_REFUSED|Failed to fetch")
    editor.allow_console(http_status_message(502))
    web_stack.kill("gateway")
    try:
        assert wait_status(editor, "offline") == "Offline"
        editor.shot("offline")
    finally:
        web_stack.restart("gateway")
    wait_status(editor, "online")
