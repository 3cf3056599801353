"""The lama engine on a tiny model of big-lama's TorchScript format, loaded by the real loading code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from generation_helpers import box_mask, decode, fast_settings, png, serve_in_process, smooth_background
from PIL import Image
from tiny_models import save_tiny_lama

from retouch.generation.app import create_app
from retouch.generation.compositing import protected
from retouch.generation.engines.lama import crop_box
from retouch.runtime.models import InstalledModel, write_manifest
from retouch.runtime.settings import SettingsError
from retouch.sdk.errors import UnprocessableEntityError
from retouch.sdk.models.generation import RunRequest


def _two_tone(width: int, height: int) -> np.ndarray:
    """Red on the left half, blue on the right: a fill from the wrong place shows in its colour."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:, : width // 2] = (200, 30, 30)
    picture[:, width // 2 :] = (30, 40, 190)
    return picture


@pytest.fixture
def lama_file(tmp_path: Path) -> Path:
    return save_tiny_lama(tmp_path / "big-lama.pt")


def _install(models_dir: Path, weights: Path) -> None:
    folder = models_dir / "lama"
    folder.mkdir(parents=True)
    target = folder / "big-lama.pt"
    target.write_bytes(weights.read_bytes())
    write_manifest(
        folder,
        InstalledModel(name="lama", file="big-lama.pt", engine="lama", sha256="0" * 64, size=target.stat().st_size),
    )


async def test_removal_fills_from_the_surroundings_and_keeps_everything_else(lama_file: Path) -> None:
    width, height = 1203, 301  # odd sides: the engine pads to multiples of 8 (the model refuses others)
    picture = _two_tone(width, height)
    picture[120:160, 1000:1040] = (250, 250, 20)  # the object, deep in the blue half
    mask = box_mask((width, height), (1000, 120, 1040, 160))
    app = create_app(fast_settings(lama_model=lama_file, engine="lama", extra_engines=["classic"]))
    async with serve_in_process(app) as client:
        assert app.state.runner.wait_ready(30)
        request = RunRequest(prompt="", input_image=png(Image.fromarray(picture)), mask=png(mask), task_type="removal")
        result = await client.generation.run(request)
    edited = np.asarray(decode(result.image))
    assert result.engine == "lama" and edited.shape == picture.shape
    # The crop around the mask holds only blue pixels, so the mean fill is blue, not purple.
    assert np.abs(edited[130:150, 1010:1030].astype(int) - (30, 40, 190)).max() <= 1
    settings = app.state.runner.settings
    keep = protected(mask, settings.brush_grow_px + settings.composite_grow_px + 1)
    assert np.array_equal(edited[keep], picture[keep])


async def test_a_crop_larger_than_the_working_size_is_scaled_down_and_back(lama_file: Path) -> None:
    picture = smooth_background(640, 480)
    picture[100:380, 150:500] = (10, 200, 10)
    mask = box_mask((640, 480), (150, 100, 500, 380))
    app = create_app(fast_settings(lama_model=lama_file, engine="lama", working_size=128))
    async with serve_in_process(app) as client:
        request = RunRequest(prompt="", input_image=png(Image.fromarray(picture)), mask=png(mask), task_type="removal")
        edited = np.asarray(decode((await client.generation.run(request)).image))
    hole = np.asarray(mask) > 127
    assert edited.shape == picture.shape
    # No green of the object survives: the downscaled mask covers all of it.
    assert edited[hole][:, 1].max() < 190
    keep = protected(mask, 6 + 8 + 1)
    assert np.array_equal(edited[keep], picture[keep])


async def test_an_installed_lama_becomes_the_default_removal_engine(tmp_path: Path, lama_file: Path) -> None:
    models = tmp_path / "models"
    _install(models, lama_file)
    app = create_app(fast_settings(models_dir=models))
    picture = smooth_background(96, 64)
    mask = box_mask((96, 64), (30, 20, 60, 40))
    async with serve_in_process(app) as client:
        assert app.state.runner.wait_ready(30)
        health = await client.health()
        assert (health.engine, health.engines) == ("lama", ["lama", "classic"])
        removal = RunRequest(prompt="", input_image=png(Image.fromarray(picture)), mask=png(mask), task_type="removal")
        assert (await client.generation.run(removal)).engine == "lama"
        balance = RunRequest(prompt="", input_image=png(Image.fromarray(picture)), task_type="white-balance")
        assert (await client.generation.run(balance)).engine == "classic"
        explicit = RunRequest(
            prompt="", input_image=png(Image.fromarray(picture)), task_type="white-balance", engine="lama"
        )
        with pytest.raises(UnprocessableEntityError, match="only does removal"):
            await client.generation.run(explicit)


async def test_without_an_installed_model_classic_serves_alone(tmp_path: Path) -> None:
    app = create_app(fast_settings(models_dir=tmp_path / "models"))
    async with serve_in_process(app) as client:
        assert app.state.runner.wait_ready(30)
        health = await client.health()
    assert (health.engine, health.engines) == ("classic", ["classic"])


def test_a_half_installed_model_is_not_picked_up(tmp_path: Path, lama_file: Path) -> None:
    models = tmp_path / "models"
    _install(models, lama_file)
    (models / "lama" / "big-lama.pt").write_bytes(b"truncated")  # size no longer matches the manifest
    assert fast_settings(models_dir=models).engines == ("classic",)


def test_the_lama_engine_without_weights_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="models pull lama"):
        create_app(fast_settings(engine="lama", models_dir=tmp_path))


async def test_a_file_that_is_not_torchscript_makes_the_service_unhealthy(tmp_path: Path) -> None:
    bogus = tmp_path / "big-lama.pt"
    bogus.write_bytes(b"not a TorchScript archive")
    app = create_app(fast_settings(lama_model=bogus, engine="lama"))
    async with serve_in_process(app) as client:
        assert app.state.runner.wait_ready(30)
        response = await client.request_raw("GET", "/api/health", stream=False)
    health = response.json()
    assert response.status_code == 503
    assert health["status"] == "unhealthy" and "model failed to load" in health["detail"]


def test_crop_box_grows_by_the_margin_or_half_the_mask_and_stays_inside() -> None:
    region = np.zeros((100, 200), bool)
    region[40:50, 90:110] = True
    assert crop_box(region, 16) == (74, 24, 126, 66)
    region[:, :] = False
    region[10:90, 20:180] = True  # 160 wide: grown by 80, clipped to the picture
    assert crop_box(region, 16) == (0, 0, 200, 100)
