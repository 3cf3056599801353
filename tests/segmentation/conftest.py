"""Fixtures for the segmentation tests: the real app in-process (lifespan run, engine ready),
the SDK pointed at it, and a random-weight FastSAM model built once per session."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from loopback import serve_on_loopback
from seg_support import FASTSAM_IMGSZ, MakeApp, fastsam_settings, grabcut_settings, wait_until_settled
from starlette.applications import Starlette

from retouch.sdk import AsyncClient
from retouch.segmentation.app import create_app
from retouch.segmentation.engines import Engine
from retouch.segmentation.settings import SegmentationSettings


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app's lifespan would point the root logger at stderr for the rest of the session.
    monkeypatch.setattr("retouch.runtime.app.configure_logging", lambda *args, **kwargs: None)


@pytest.fixture
async def make_app() -> AsyncIterator[MakeApp]:
    """``await make_app(settings=None, engine=None, wait=True)``: the app (lifespan entered) and an
    HTTP client on it; with ``wait`` the engine has finished loading."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            settings: SegmentationSettings | None = None, *, engine: Engine | None = None, wait: bool = True
        ) -> tuple[Starlette, httpx.AsyncClient]:
            app = create_app(settings or grabcut_settings(), engine=engine)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://seg"))
            if wait:
                await wait_until_settled(client)
            return app, client

        yield make


@pytest.fixture
async def http(make_app: MakeApp) -> httpx.AsyncClient:
    """A raw HTTP client on a ready GrabCut service."""
    _, client = await make_app()
    return client


@pytest.fixture
async def sdk(make_app: MakeApp) -> AsyncIterator[AsyncClient]:
    """The SDK's async client on a ready GrabCut service (no retries: errors surface at once)."""
    app, _ = await make_app()
    async with AsyncClient("http://seg", transport=httpx.ASGITransport(app=app), max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """A GrabCut service served by uvicorn on a free loopback port (for the sync client and the CLI)."""
    with serve_on_loopback(create_app(grabcut_settings())) as url:
        while httpx.get(f"{url}/api/health").json().get("status") == "loading":
            time.sleep(0.02)
        yield url


@pytest.fixture(scope="session")
def fastsam_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FastSAM-architecture model (ultralytics' bundled ``yolov8s-seg.yaml``, one class) with
    random weights, saved as a ``.pt`` checkpoint the way ultralytics saves its own."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("ultralytics")
    from retouch.segmentation.engines.ultralytics_import import prepare

    prepare()
    from ultralytics.nn.tasks import SegmentationModel

    torch.manual_seed(1)  # this seed gives candidates of many sizes on the test pictures
    model = SegmentationModel("yolov8s-seg.yaml", nc=1, verbose=False)
    path = tmp_path_factory.mktemp("fastsam") / "FastSAM-test.pt"
    checkpoint = {
        "model": copy.deepcopy(model).half(),
        "train_args": {"task": "segment", "imgsz": FASTSAM_IMGSZ},
        "date": None,
        "version": None,
    }
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="session")
def fastsam_engine(fastsam_weights: Path) -> Engine:
    """The production FastSAM engine on the random-weight checkpoint, loaded once per session."""
    from retouch.segmentation.engines.fastsam import FastSAMEngine

    engine = FastSAMEngine(fastsam_settings(fastsam_weights))
    engine.load()
    return engine
