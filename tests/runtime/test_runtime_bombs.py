"""Decompression bombs sent to every public route that reads a picture are refused (413, or 422
where the container cannot be read) from their headers: the process's peak memory barely moves."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bombs import BOMBS
from service_apps import serve_all

#: How much the peak resident memory may grow while every bomb goes through every route. One
#: decoded bomb alone would take 361 MB (19000 x 19000 at one byte a pixel).
PEAK_GROWTH_BOUND_KB = 96 * 1024


def _field(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _tiny_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


#: (service, path, body for a picture): each public route that decodes a picture it is sent.
ROUTES: list[tuple[str, str, Any]] = [
    ("image-utils", "/api/image-utils/metadata", lambda b: {"image": _field(b)}),
    ("image-utils", "/api/image-utils/convert", lambda b: {"image": _field(b), "format": "png"}),
    ("image-utils", "/api/image-utils/mask", lambda b: {"mask": _field(b), "operation": "threshold"}),
    ("segmentation", "/api/smart-mask", lambda b: {"image": _field(b), "points": [[1, 1]]}),
    (
        "generation",
        "/api/generation/run",
        lambda b: {"prompt": "", "task_type": "white-balance", "input_image": _field(b)},
    ),
    ("jobs", "/api/generate", lambda b: {"prompt": "", "task_type": "white-balance", "input_image": _field(b)}),
    (
        "jobs",
        "/api/generate",
        lambda b: {"prompt": "", "task_type": "removal", "input_image": _field(_tiny_png()), "mask": _field(b)},
    ),
]


def _peak_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def _reset_peak() -> None:
    # Linux >= 4.0 resets VmHWM to the current RSS when "5" is written here. Where that is not
    # allowed the growth is measured from the old peak, which can only understate a new one.
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


@pytest.fixture
async def clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    monkeypatch.setattr("retouch.runtime.app.configure_logging", lambda *args, **kwargs: None)
    async with serve_all(tmp_path) as clients:
        yield clients


async def test_every_bomb_is_refused_by_every_route_before_it_is_decoded(clients: dict[str, httpx.AsyncClient]) -> None:
    # Warm every route with a real picture first, so lazily imported code does not count as growth
    # (the jobs service with one it refuses after decoding it: an empty mask starts no job).
    for service, path, body in ROUTES:
        warm = body(_tiny_png())
        if service == "jobs":
            warm = {**warm, "task_type": "removal", "mask": _field(_tiny_png())}
        await clients[service].post(path, json=warm)
    _reset_peak()
    before = _peak_kb()
    answers: dict[tuple[str, str], int] = {}
    for service, path, body in ROUTES:
        for name, data in BOMBS.items():
            response = await clients[service].post(path, json=body(data))
            answers[(f"{service} {path}", name)] = response.status_code
            assert response.headers["content-type"] == "application/problem+json", (service, path, name, response.text)
    growth = _peak_kb() - before
    wrong = {key: status for key, status in answers.items() if status not in (413, 422)}
    assert not wrong, wrong
    # Over the limits is 413 (422 is for a container refused for what it is, such as EPS).
    assert all(status == 413 for status in answers.values()), answers
    assert growth < PEAK_GROWTH_BOUND_KB, f"peak memory grew by {growth / 1024:.0f} MB"


async def test_the_peak_measurement_sees_a_real_decode() -> None:
    # The bound above means something: decoding one bomb for real moves the peak past it.
    import io

    from bombs import huge_png
    from PIL import Image

    _reset_peak()
    before = _peak_kb()
    with Image.open(io.BytesIO(huge_png(12_000, 12_000))) as image:
        image.load()
    assert _peak_kb() - before > PEAK_GROWTH_BOUND_KB


def _saved(image: Any, fmt: str, **params: Any) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def test_honest_containers_still_decode() -> None:
    # The guards read headers only: an icon, a multi-page TIFF and animations of normal sizes pass.
    from PIL import Image

    from retouch.runtime.images import open_image

    red, blue = Image.new("RGB", (20, 10), (200, 10, 10)), Image.new("RGB", (20, 10), (10, 10, 200))
    honest = {
        "ico": _saved(Image.new("RGBA", (32, 32), (200, 10, 10, 255)), "ICO", sizes=[(32, 32), (16, 16)]),
        "tiff pages": _saved(red, "TIFF", save_all=True, append_images=[Image.new("RGB", (30, 40))]),
        "gif frames": _saved(red, "GIF", save_all=True, append_images=[blue]),
        "webp frames": _saved(red, "WEBP", save_all=True, append_images=[blue], lossless=True),
        "apng frames": _saved(red, "PNG", save_all=True, append_images=[blue]),
    }
    for name, data in honest.items():
        image = open_image(data)
        assert image.getpixel((1, 1))[0] > 150, name  # the first frame / page / largest icon
