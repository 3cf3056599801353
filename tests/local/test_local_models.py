"""``retouch-local models``: pulling from a loopback server standing in for the Hub and for release
URLs (progress, resume, checksums), and the services picking a pulled model up by themselves."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback import serve_on_loopback
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from tiny_models import save_random_mobile_sam, save_tiny_lama

from retouch.local import Stack, StackSettings
from retouch.local.cli import main
from retouch.local.models import CATALOG, ModelSpec, source_url
from retouch.runtime.models import read_manifest

HUB_REPO = "retouch-tests/big-lama"


@dataclass
class Hub:
    """A file server for the tests: Range requests, and connections that break on purpose."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: path -> bytes sent before the next request for it is cut off (once).
    break_after: dict[str, int] = field(default_factory=dict)
    #: ``(path, Range header)`` of every request.
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    async def serve(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append((path, request.headers.get("range")))
        data = self.files.get(path)
        if data is None:
            return Response("not found", status_code=404)
        start, status, headers = 0, 200, {"accept-ranges": "bytes"}
        wanted = request.headers.get("range")
        if wanted:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                return Response(status_code=416, headers={"content-range": f"bytes */{len(data)}"})
            status = 206
            headers["content-range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["content-length"] = str(len(body))
        cut = self.break_after.pop(path, None)

        async def chunks() -> AsyncIterator[bytes]:
            for offset in range(0, len(body), 512):
                if cut is not None and offset >= cut:
                    raise ConnectionResetError("the test hub breaks this download on purpose")
                yield body[offset : offset + 512]

        return StreamingResponse(chunks(), status_code=status, headers=headers)


@pytest.fixture
def hub() -> Iterator[Hub]:
    state = Hub()
    app = Starlette(routes=[Route("/{path:path}", state.serve)])
    with serve_on_loopback(app) as url:
        state.url = url
        yield state


@pytest.fixture(scope="module")
def lama_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return save_tiny_lama(tmp_path_factory.mktemp("lama") / "big-lama.pt").read_bytes()


def write_catalog(path: Path, *specs: dict[str, Any]) -> Path:
    path.write_text(json.dumps(list(specs)))
    return path


def lama_entry(data: bytes, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "lama",
        "engine": "lama",
        "service": "generation",
        "file": "big-lama.pt",
        "hf_repo": HUB_REPO,
        "hf_file": "big-lama.pt",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    entry.update(overrides)
    return entry


@pytest.fixture
def hub_lama(hub: Hub, lama_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny LaMa served as the Hub would (``/<repo>/resolve/<revision>/<file>``), the catalogue
    pinning it, ``HF_ENDPOINT`` pointing at the hub; returns the data directory."""
    hub.files[f"/{HUB_REPO}/resolve/main/big-lama.pt"] = lama_bytes
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the suite's guard; this hub is on loopback
    monkeypatch.setenv("RETOUCH_MODELS_CATALOG", str(write_catalog(tmp_path / "catalog.json", lama_entry(lama_bytes))))
    monkeypatch.delenv("RETOUCH_MODELS_DIR", raising=False)
    return tmp_path / "data"


def test_the_hub_is_not_asked_when_hf_hub_offline_is_set(
    hub_lama: Path, hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "pull", "lama", "--data-dir", str(hub_lama)]) == 1
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err and hub.requests == []


def test_pull_downloads_from_the_hub_with_a_progress_bar_and_installs_a_verified_model(
    hub_lama: Path, hub: Hub, lama_bytes: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "lama", "--data-dir", str(hub_lama)]) == 0
    out, err = capsys.readouterr()
    assert "lama" in err and "100%" in err  # tqdm's bar on stderr
    installed = hub_lama / "models" / "lama" / "big-lama.pt"
    assert installed.read_bytes() == lama_bytes and "verified" in out
    manifest = read_manifest(installed.parent)
    assert (
        manifest is not None and manifest.engine == "lama" and manifest.sha256 == hashlib.sha256(lama_bytes).hexdigest()
    )
    assert manifest.source == f"{hub.url}/{HUB_REPO}/resolve/main/big-lama.pt"

    assert main(["models", "list", "--data-dir", str(hub_lama)]) == 0
    listing = capsys.readouterr().out
    assert any(line.split()[:1] == ["lama"] and "installed" in line for line in listing.splitlines())
    # Pulling again keeps the verified copy without downloading anything.
    count = len(hub.requests)
    assert main(["models", "pull", "lama", "--data-dir", str(hub_lama)]) == 0
    assert len(hub.requests) == count


def test_an_interrupted_download_resumes_where_it_stopped_on_the_next_pull(
    hub_lama: Path, hub: Hub, lama_bytes: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"/{HUB_REPO}/resolve/main/big-lama.pt"
    hub.break_after[path] = len(lama_bytes) // 2
    assert main(["models", "pull", "lama", "--retries", "0", "--data-dir", str(hub_lama)]) == 1
    assert "run the same command again to resume" in capsys.readouterr().err
    part = hub_lama / "models" / "lama" / "big-lama.pt.part"
    kept = part.stat().st_size
    assert 0 < kept < len(lama_bytes) and read_manifest(part.parent) is None
    main(["models", "list", "--data-dir", str(hub_lama)])
    assert "partial" in capsys.readouterr().out

    assert main(["models", "pull", "lama", "--data-dir", str(hub_lama)]) == 0
    assert hub.requests[-1] == (path, f"bytes={kept}-")
    assert (hub_lama / "models" / "lama" / "big-lama.pt").read_bytes() == lama_bytes
    assert not part.exists()


def test_a_connection_that_breaks_is_resumed_within_the_same_pull(hub_lama: Path, hub: Hub, lama_bytes: bytes) -> None:
    path = f"/{HUB_REPO}/resolve/main/big-lama.pt"
    hub.break_after[path] = len(lama_bytes) // 3
    assert main(["models", "pull", "lama", "--no-progress", "--data-dir", str(hub_lama)]) == 0
    first, second = (rng for p, rng in hub.requests if p == path)
    assert first is None and second is not None
    assert 0 < int(second.removeprefix("bytes=").rstrip("-")) < len(lama_bytes)
    assert (hub_lama / "models" / "lama" / "big-lama.pt").read_bytes() == lama_bytes


def test_a_file_that_does_not_match_its_pin_is_refused_and_deleted(
    hub: Hub, lama_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.files[f"/{HUB_REPO}/resolve/main/big-lama.pt"] = lama_bytes
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    wrong = lama_entry(lama_bytes, sha256=hashlib.sha256(b"another file").hexdigest())
    monkeypatch.setenv("RETOUCH_MODELS_CATALOG", str(write_catalog(tmp_path / "catalog.json", wrong)))
    data = tmp_path / "data"
    assert main(["models", "pull", "lama", "--no-progress", "--data-dir", str(data)]) == 1
    assert "not the pinned" in capsys.readouterr().err
    folder = data / "models" / "lama"
    assert read_manifest(folder) is None and not any(folder.iterdir())

    short = lama_entry(lama_bytes, size=len(lama_bytes) + 1)  # a size pin is checked too
    monkeypatch.setenv("RETOUCH_MODELS_CATALOG", str(write_catalog(tmp_path / "catalog.json", short)))
    assert main(["models", "pull", "lama", "--no-progress", "--data-dir", str(data)]) == 1
    assert "bytes, not the pinned" in capsys.readouterr().err
    assert read_manifest(folder) is None


def test_a_release_url_is_fetched_from_the_configured_mirror(
    hub: Hub, lama_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = lama_entry(
        lama_bytes, hf_repo=None, hf_file=None, url="https://github.com/acme/models/releases/download/v1/big-lama.pt"
    )
    hub.files["/acme/models/releases/download/v1/big-lama.pt"] = lama_bytes
    monkeypatch.setenv("RETOUCH_MODELS_MIRROR", hub.url)
    monkeypatch.setenv("RETOUCH_MODELS_CATALOG", str(write_catalog(tmp_path / "catalog.json", entry)))
    data = tmp_path / "data"
    assert main(["models", "pull", "lama", "--no-progress", "--data-dir", str(data)]) == 0
    assert hub.requests == [("/acme/models/releases/download/v1/big-lama.pt", None)]


def test_a_missing_file_on_the_server_is_an_error_naming_it(
    hub: Hub, lama_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("RETOUCH_MODELS_CATALOG", str(write_catalog(tmp_path / "catalog.json", lama_entry(lama_bytes))))
    assert main(["models", "pull", "lama", "--no-progress", "--data-dir", str(tmp_path / "data")]) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_bad_names_and_catalogues_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RETOUCH_MODELS_CATALOG", raising=False)
    assert main(["models", "pull", "no-such-model", "--data-dir", str(tmp_path)]) == 2
    assert "lama" in capsys.readouterr().err  # the message lists the models there are
    assert main(["models", "remove", "../etc", "--data-dir", str(tmp_path)]) == 2
    assert main(["models", "remove", "lama", "--data-dir", str(tmp_path)]) == 1
    assert "not installed" in capsys.readouterr().err
    bad = tmp_path / "catalog.json"
    bad.write_text(
        json.dumps([{"name": "x", "engine": "lama", "service": "generation", "file": "x.pt", "sha256": "12"}])
    )
    monkeypatch.setenv("RETOUCH_MODELS_CATALOG", str(bad))
    assert main(["models", "list", "--data-dir", str(tmp_path)]) == 2
    assert "not a valid catalogue" in capsys.readouterr().err


def test_remove_deletes_an_installed_model(hub_lama: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "lama", "--no-progress", "--data-dir", str(hub_lama)]) == 0
    assert main(["models", "remove", "lama", "--data-dir", str(hub_lama)]) == 0
    assert not (hub_lama / "models" / "lama").exists()


def test_the_built_in_catalogue_pins_every_model_at_its_publishers_url() -> None:
    assert {"lama", "mobile_sam", "fastsam_s"} <= set(CATALOG)
    for spec in CATALOG.values():
        assert spec.url is not None and spec.url.startswith("https://") and spec.size
        assert source_url(spec, {}) == spec.url
    assert source_url(CATALOG["lama"], {"RETOUCH_MODELS_MIRROR": "http://mirror:8080/m/"}) == (
        "http://mirror:8080/m/Sanster/models/releases/download/add_big_lama/big-lama.pt"
    )
    with pytest.raises(ValueError, match="exactly one source"):
        ModelSpec(name="x", engine="lama", service="generation", file="x.pt", sha256="0" * 64)


@pytest.mark.slow
def test_the_stack_serves_the_pulled_models(
    hub: Hub, lama_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stacks: list[Stack]
) -> None:
    """Pulled into the data directory, the models are what `retouch-local serve` runs, and health says so."""
    sam_bytes = save_random_mobile_sam(tmp_path / "mobile_sam.pt").read_bytes()
    hub.files[f"/{HUB_REPO}/resolve/main/big-lama.pt"] = lama_bytes
    hub.files["/sam/releases/mobile_sam.pt"] = sam_bytes
    sam_entry = {
        "name": "mobile_sam",
        "engine": "mobile_sam",
        "service": "segmentation",
        "file": "mobile_sam.pt",
        "url": "https://example.org/sam/releases/mobile_sam.pt",
        "sha256": hashlib.sha256(sam_bytes).hexdigest(),
    }
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("RETOUCH_MODELS_MIRROR", hub.url)
    monkeypatch.setenv(
        "RETOUCH_MODELS_CATALOG", str(write_catalog(tmp_path / "c.json", lama_entry(lama_bytes), sam_entry))
    )
    monkeypatch.delenv("RETOUCH_MODELS_DIR", raising=False)
    data = tmp_path / "data"
    for name in ("lama", "mobile_sam"):
        assert main(["models", "pull", name, "--no-progress", "--data-dir", str(data)]) == 0

    environ = {k: v for k, v in os.environ.items() if not k.startswith("RETOUCH_")}
    environ["RETOUCH_SEGMENTATION_DEVICE"] = "cpu"
    stack = Stack(
        StackSettings(port=0, data_dir=data, only=["generation", "segmentation"], base_env=environ, web_dir=None)
    )
    stacks.append(stack)
    stack.start()
    system = _settled(f"{stack.gateway_url}/api/system/health")
    assert system["services"]["generation"]["engine"] == "lama"
    assert system["services"]["generation"]["engines"] == ["lama", "classic"]
    assert system["services"]["segmentation"]["engine"] == "mobile_sam"
    assert system["services"]["segmentation"]["engines"] == ["mobile_sam"]

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, format="PNG")
    picture = base64.b64encode(buf.getvalue()).decode()
    answer = httpx.post(
        f"{stack.gateway_url}/api/smart-mask", json={"image": picture, "points": [[30, 20]]}, timeout=60
    )
    assert answer.status_code in (200, 422), answer.text  # random weights may find nothing; the engine ran
    if answer.status_code == 200:
        assert answer.json()["engine"] == "mobile_sam"
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (20, 10, 40, 30))
    mbuf = io.BytesIO()
    mask.save(mbuf, format="PNG")
    run = {
        "prompt": "",
        "task_type": "removal",
        "input_image": picture,
        "mask": base64.b64encode(mbuf.getvalue()).decode(),
    }
    response = httpx.post(
        f"{stack.service_urls['generation']}/api/generation/run",
        json=run,
        headers={"X-Service-Token": stack.token, "Accept": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]
    assert '"engine":"lama"' in response.text.replace(" ", "")


def _settled(url: str, timeout: float = 120.0) -> dict[str, Any]:
    """The system health once no service is still loading."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = httpx.get(url, timeout=10).json()
        if all(s["status"] != "loading" for s in report["services"].values()) or time.monotonic() > deadline:
            return report
        time.sleep(0.2)
