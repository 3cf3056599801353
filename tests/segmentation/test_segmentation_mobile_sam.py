"""MobileSAM for real, offline: a random-weight checkpoint of the real format loaded through the
production code path; the image encoder runs once per picture, every later click only runs the
prompt decoder on the cached embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from seg_scenes import H, W, b64, disk_scene, png, response_mask
from seg_support import MakeApp, wait_until_settled
from tiny_models import save_random_mobile_sam

from retouch.runtime.models import InstalledModel, write_manifest
from retouch.runtime.settings import SettingsError
from retouch.segmentation.app import create_app
from retouch.segmentation.engines import Engine
from retouch.segmentation.settings import SegmentationSettings

pytestmark = pytest.mark.slow

IMAGE, _ = disk_scene(0)
DATA = b64(png(IMAGE))


@pytest.fixture(scope="session")
def mobile_sam_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("ultralytics")
    return save_random_mobile_sam(tmp_path_factory.mktemp("mobile_sam") / "mobile_sam.pt")


def sam_settings(weights: Path, **overrides: Any) -> SegmentationSettings:
    values: dict[str, Any] = {"log_json": False, "engine": "mobile_sam", "mobile_sam_weights": weights, "device": "cpu"}
    values.update(overrides)
    return SegmentationSettings(**values)


@pytest.fixture(scope="session")
def sam_engine(mobile_sam_weights: Path) -> Engine:
    """The production engine on the random-weight checkpoint, loaded once per session."""
    from retouch.segmentation.engines.mobile_sam import MobileSAMEngine

    engine = MobileSAMEngine(sam_settings(mobile_sam_weights))
    engine.load()
    return engine


@pytest.fixture
def prompt_inputs(sam_engine: Engine) -> Any:
    """What the prompt encoder is called with, call by call (a hook on the real module)."""
    calls: list[dict[str, Any]] = []
    module = sam_engine.model.prompt_encoder  # type: ignore[attr-defined]
    handle = module.register_forward_pre_hook(lambda _m, _a, kwargs: calls.append(kwargs), with_kwargs=True)
    yield calls
    handle.remove()


async def post(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/api/smart-mask", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def well_formed(answer: dict[str, Any]) -> np.ndarray:
    assert answer["success"] is True and answer["engine"] == "mobile_sam"
    mask = response_mask(answer)
    assert mask.shape == (H, W) and set(np.unique(mask)) <= {0, 255}
    assert 0.0 <= answer["score"] <= 1.0
    return mask


async def test_a_repeat_click_reuses_the_image_embedding(
    make_app: MakeApp, mobile_sam_weights: Path, sam_engine: Engine
) -> None:
    _, http = await make_app(sam_settings(mobile_sam_weights), engine=sam_engine)
    before = sam_engine.encodings  # type: ignore[attr-defined]
    first = await post(http, image=DATA, points=[[110, 96]])
    second = await post(http, image_id=first["image_id"], points=[[40, 30]], point_labels=[1])
    resent = await post(http, image=DATA, points=[[200, 150]])
    assert sam_engine.encodings - before == 1  # type: ignore[attr-defined]
    assert (first["cached"], second["cached"], resent["cached"]) == (False, True, True)
    assert "prepare" in first["timings"] and "prepare" not in second["timings"]
    masks = [well_formed(answer) for answer in (first, second, resent)]
    assert not np.array_equal(masks[0], masks[1])  # the decoder saw the new click


async def test_prompts_reach_the_model_in_its_input_coordinates(
    make_app: MakeApp, mobile_sam_weights: Path, sam_engine: Engine, prompt_inputs: list[dict[str, Any]]
) -> None:
    _, http = await make_app(sam_settings(mobile_sam_weights), engine=sam_engine)
    scale = 1024 / W  # the longest side (256) is scaled to SAM's 1024
    await post(http, image=DATA, points=[[100, 50], [20, 10]], point_labels=[1, 0])
    points, labels = prompt_inputs[-1]["points"]
    np.testing.assert_allclose(points[0].numpy(), [[100 * scale, 50 * scale], [20 * scale, 10 * scale]])
    assert labels[0].tolist() == [1, 0] and prompt_inputs[-1]["boxes"] is None

    await post(http, image=DATA, bbox=[40, 30, 180, 160])
    assert prompt_inputs[-1]["points"] is None
    assert prompt_inputs[-1]["boxes"][0].tolist() == pytest.approx([40 * scale, 30 * scale, 179 * scale, 159 * scale])

    stroke = np.zeros((H, W), np.uint8)
    stroke[90:100, 60:160] = 255
    await post(http, image=DATA, mask=b64(png(stroke)))
    points, labels = prompt_inputs[-1]["points"]
    xs, ys = points[0, :, 0] / scale, points[0, :, 1] / scale
    assert len(xs) > 1 and labels[0].tolist() == [1] * len(xs)
    assert xs.min() >= 60 and xs.max() < 160 and ys.min() >= 90 and ys.max() < 100  # along the stroke's middle
    assert prompt_inputs[-1]["boxes"][0].tolist() == pytest.approx([60 * scale, 90 * scale, 159 * scale, 99 * scale])

    await post(http, image=DATA, auto_detect=True)
    assert prompt_inputs[-1]["points"] is None and prompt_inputs[-1]["boxes"] is not None


def install(models_dir: Path, weights: Path) -> None:
    """``weights`` installed as ``models pull mobile_sam`` leaves them (file and manifest)."""
    folder = models_dir / "mobile_sam"
    folder.mkdir(parents=True)
    (folder / "mobile_sam.pt").write_bytes(weights.read_bytes())
    size = (folder / "mobile_sam.pt").stat().st_size
    write_manifest(
        folder, InstalledModel(name="mobile_sam", file="mobile_sam.pt", engine="mobile_sam", sha256="0" * 64, size=size)
    )


async def test_an_installed_mobile_sam_is_picked_up_and_reported(tmp_path: Path, mobile_sam_weights: Path) -> None:
    install(tmp_path / "models", mobile_sam_weights)
    settings = SegmentationSettings(log_json=False, device="cpu", models_dir=tmp_path / "models")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://seg") as http:
        health = await wait_until_settled(http)
        answer = await post(http, image=DATA, points=[[110, 96]])
    assert (health["status"], health["engine"], health["engines"]) == ("healthy", "mobile_sam", ["mobile_sam"])
    well_formed(answer)


async def test_a_checkpoint_of_another_model_makes_the_service_unhealthy(make_app: MakeApp, tmp_path: Path) -> None:
    import torch

    wrong = tmp_path / "mobile_sam.pt"
    torch.save({"weight": torch.zeros(3)}, wrong)
    _, http = await make_app(sam_settings(wrong), wait=False)
    health = await wait_until_settled(http)
    assert health["status"] == "unhealthy" and "state_dict" in health["detail"]
    response = await http.post("/api/smart-mask", json={"image": DATA, "points": [[10, 10]]})
    assert response.status_code == 503


def test_the_engine_without_a_checkpoint_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="RETOUCH_MOBILE_SAM_WEIGHTS"):
        SegmentationSettings(engine="mobile_sam", models_dir=tmp_path)
    with pytest.raises(SettingsError, match="not found"):
        create_app(SegmentationSettings(engine="mobile_sam", mobile_sam_weights=tmp_path / "missing.pt"))


def test_specks_are_dropped_unless_clicked_on() -> None:
    from retouch.segmentation.engines.mobile_sam import drop_specks

    coded = np.zeros((400, 500), np.uint8)
    coded[50:250, 50:300] = 200  # an object (25 % of the picture)
    coded[300:305, 400:405] = 200  # a speck (0.0125 %)
    coded[350:355, 20:25] = 200  # another speck, clicked on
    kept = drop_specks(coded, np.array([[22.0, 352.0]]))
    assert (kept[50:250, 50:300] == 200).all() and (kept[350:355, 20:25] == 200).all()
    assert not kept[300:305, 400:405].any()
    only_specks = np.zeros((400, 500), np.uint8)
    only_specks[10:12, 10:12] = only_specks[100:103, 100:103] = 200
    largest = drop_specks(only_specks, np.zeros((0, 2)))  # nothing large and nothing clicked: the largest stays
    assert largest[100:103, 100:103].all() and not largest[10:12, 10:12].any()


def test_auto_prefers_mobile_sam_then_fastsam_then_grabcut(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert SegmentationSettings(models_dir=models).engine == "grabcut"
    fastsam = models / "fastsam_s"
    fastsam.mkdir(parents=True)
    (fastsam / "FastSAM-s.pt").write_bytes(b"weights")
    write_manifest(
        fastsam, InstalledModel(name="fastsam_s", file="FastSAM-s.pt", engine="fastsam", sha256="0" * 64, size=7)
    )
    settings = SegmentationSettings(models_dir=models)
    assert (settings.engine, settings.fastsam_weights) == ("fastsam", fastsam / "FastSAM-s.pt")
    mobile = models / "mobile_sam"
    mobile.mkdir()
    (mobile / "mobile_sam.pt").write_bytes(b"weights")
    write_manifest(
        mobile, InstalledModel(name="mobile_sam", file="mobile_sam.pt", engine="mobile_sam", sha256="0" * 64, size=7)
    )
    assert SegmentationSettings(models_dir=models).engine == "mobile_sam"
    # An explicit choice wins over what is installed.
    assert SegmentationSettings(models_dir=models, engine="grabcut").engine == "grabcut"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_encoder_precision_is_a_setting_and_the_cache_holds_float32(mobile_sam_weights: Path, dtype: str) -> None:
    import torch

    from retouch.segmentation.engines.mobile_sam import MobileSAMEngine

    engine = MobileSAMEngine(sam_settings(mobile_sam_weights, mobile_sam_dtype=dtype))
    engine.load()
    prepared = engine.prepare(IMAGE)
    assert engine.dtype == dtype
    assert prepared.embedding.dtype == torch.float32 and tuple(prepared.embedding.shape) == (1, 256, 64, 64)  # type: ignore[attr-defined]
