"""The classic engine on generated scenes with known ground truth, through the service's API."""

from __future__ import annotations

import numpy as np
from generation_helpers import box_mask, decode, fast_settings, png, serve_in_process, smooth_background
from PIL import Image, ImageDraw
from starlette.applications import Starlette

from retouch.generation.app import create_app
from retouch.generation.compositing import protected
from retouch.sdk import AsyncClient
from retouch.sdk.models.generation import ProgressEvent, ResultEvent, RunEvent, RunRequest

Classic = tuple[AsyncClient, Starlette]


def _object_scene(width: int = 128, height: int = 96) -> tuple[Image.Image, Image.Image, Image.Image]:
    """A textured object on a smooth background: (picture, clean background, object mask)."""
    clean = smooth_background(width, height)
    picture = clean.copy()
    rng = np.random.default_rng(7)
    top, left, size = height // 3, width // 3, height // 3
    picture[top : top + size, left : left + size] = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    mask = box_mask((width, height), (left, top, left + size, top + size))
    return Image.fromarray(picture), Image.fromarray(clean), mask


def _masked_error(a: Image.Image, b: Image.Image, mask: Image.Image) -> float:
    region = np.asarray(mask) > 127
    diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return float(diff[region].mean())


async def test_removal_restores_the_clean_background_and_keeps_everything_else(classic: Classic) -> None:
    client, app = classic
    picture, clean, mask = _object_scene()
    request = RunRequest(prompt="", input_image=png(picture), mask=png(mask), task_type="removal")
    result = await client.generation.run(request)
    edited = decode(result.image)

    assert edited.size == picture.size and edited.mode == "RGB"
    unedited_error = _masked_error(picture, clean, mask)
    edited_error = _masked_error(edited, clean, mask)
    print(f"removal: masked-region mean error unedited {unedited_error:.2f}, edited {edited_error:.2f}")
    assert edited_error < 0.1 * unedited_error
    settings = app.state.runner.settings
    keep = protected(mask, settings.brush_grow_px + settings.composite_grow_px + 1)
    assert np.array_equal(np.asarray(edited)[keep], np.asarray(picture)[keep])


async def test_removal_of_a_picture_larger_than_the_working_size() -> None:
    """``input_quality="resized"`` inpaints at the working size and puts back only the hole."""
    picture, clean, mask = _object_scene(160, 128)
    app = create_app(fast_settings(working_size=64))
    async with serve_in_process(app) as client:
        for quality in ("resized", "original"):
            request = RunRequest(
                prompt="", input_image=png(picture), mask=png(mask), task_type="removal", input_quality=quality
            )
            edited = decode((await client.generation.run(request)).image)
            assert edited.size == (160, 128)
            assert _masked_error(edited, clean, mask) < 0.1 * _masked_error(picture, clean, mask)
            keep = protected(mask, 6 + 8 + 1)
            assert np.array_equal(np.asarray(edited)[keep], np.asarray(picture)[keep])


def _cast_scene() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Colour patches, one of them neutral grey, under a warm illuminant; and the grey patch's box."""
    rng = np.random.default_rng(3)
    patches = rng.uniform(0.05, 0.9, (6, 8, 3))
    patches[2, 3] = 0.2  # the neutral grey card
    patches[4, 6] = 0.75  # a white-ish card
    patches[0, 0] = 0.03  # near black
    linear = np.kron(patches, np.ones((16, 16, 1))) * np.array([1.25, 1.0, 0.7])
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return Image.fromarray(np.rint(srgb * 255).astype(np.uint8)), (3 * 16 + 2, 2 * 16 + 2, 4 * 16 - 2, 3 * 16 - 2)


def _channel_spread(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    means = np.asarray(image.crop(box), dtype=np.float64).reshape(-1, 3).mean(axis=0)
    return float((means.max() - means.min()) / means.mean())


async def test_white_balance_makes_the_grey_card_neutral(classic: Classic) -> None:
    client, _ = classic
    picture, grey = _cast_scene()
    assert _channel_spread(picture, grey) > 0.2  # the cast is real
    result = await client.generation.run(RunRequest(prompt="", input_image=png(picture), task_type="white-balance"))
    corrected = decode(result.image)
    assert corrected.size == picture.size
    assert _channel_spread(corrected, grey) < 0.03


async def test_white_balance_with_a_mask_changes_only_the_masked_part(classic: Classic) -> None:
    client, _ = classic
    picture, _ = _cast_scene()
    mask = box_mask(picture.size, (0, 0, 64, 96))
    request = RunRequest(prompt="", input_image=png(picture), mask=png(mask), task_type="white-balance")
    corrected = decode((await client.generation.run(request)).image)
    keep = protected(mask, 6 + 8 + 1)
    assert np.array_equal(np.asarray(corrected)[keep], np.asarray(picture)[keep])
    assert not np.array_equal(np.asarray(corrected)[~keep], np.asarray(picture)[~keep])


def _reference() -> tuple[Image.Image, Image.Image]:
    """A red 60x30 ellipse on a noisy grey backdrop, and its mask."""
    rng = np.random.default_rng(5)
    backdrop = Image.fromarray(rng.integers(118, 138, (100, 100, 3), dtype=np.uint8))
    mask = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(mask).ellipse((20, 35, 79, 64), fill=255)
    backdrop.paste((220, 30, 30), mask=mask)
    return backdrop, mask


async def test_insertion_places_the_reference_object_in_the_target_box_keeping_its_aspect() -> None:
    background = Image.fromarray(smooth_background(160, 120))
    reference, reference_mask = _reference()
    target = (40, 30, 120, 100)  # 80 x 70: the 2:1 object fits its width, 80 x 40
    mask = box_mask(background.size, target)
    for blend in ("poisson", "alpha"):
        app = create_app(fast_settings(classic_blend=blend))
        async with serve_in_process(app) as client:
            request = RunRequest(
                prompt="",
                input_image=png(background),
                mask=png(mask),
                mask_tool_type="box",
                reference_image=png(reference),
                reference_mask_R=png(reference_mask),
                task_type="insertion",
            )
            result = decode((await client.generation.run(request)).image)
        pixels = np.asarray(result).astype(int)
        red = (pixels[..., 0] > 150) & (pixels[..., 1] < 100) & (pixels[..., 2] < 100)
        rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
        left, top, right, bottom = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
        assert target[0] <= left and right <= target[2] and target[1] <= top and bottom <= target[3], blend
        assert abs((right - left) / (bottom - top) - 2.0) < 0.2, blend
        assert right - left >= 74, blend  # as large as fits
        assert bottom >= target[3] - 3, blend  # standing on the box's bottom edge
        keep = protected(mask, 8 + 1)
        assert np.array_equal(pixels[keep], np.asarray(background).astype(int)[keep]), blend
        # the contact shadow darkens the ground just under the object
        under = np.asarray(result.convert("L"), dtype=float)[bottom - 2 : bottom, left + 20 : right - 20]
        ground = np.asarray(background.convert("L"), dtype=float)[bottom - 2 : bottom, left + 20 : right - 20]
        assert under.mean() < ground.mean()


async def test_progress_events_come_in_order_and_end_with_one_result(classic: Classic) -> None:
    client, _ = classic
    picture, _, mask = _object_scene(64, 48)
    request = RunRequest(prompt="", input_image=png(picture), mask=png(mask), task_type="removal", run_id="r-1")
    events: list[RunEvent] = [event async for event in client.generation.stream(request)]
    assert isinstance(events[-1], ResultEvent)
    progress = [event for event in events if isinstance(event, ProgressEvent)]
    assert len(progress) == len(events) - 1
    assert [event.stage for event in progress] == ["preprocessing", "denoising", "denoising", "postprocessing"]
    assert all(event.run_id == "r-1" for event in events)
    assert [event.progress for event in progress] == sorted(event.progress for event in progress)
    assert progress[2].current_step == progress[2].total_steps == 1
    result = events[-1]
    assert (result.width, result.height, result.engine) == (64, 48, "classic")
    assert result.notes == []  # nothing the classic engine ignores was sent


async def test_model_fields_the_classic_engine_does_not_use_are_reported_not_silently_dropped(classic: Classic) -> None:
    client, _ = classic
    picture, _, mask = _object_scene(64, 48)
    request = RunRequest(
        prompt="remove the square",
        input_image=png(picture),
        mask=png(mask),
        task_type="removal",
        seed=4,
        true_cfg_scale=3,
    )
    result = await client.generation.run(request)
    assert len(result.notes) == 1
    assert "prompt" in result.notes[0] and "seed" in result.notes[0] and "true_cfg_scale" in result.notes[0]
