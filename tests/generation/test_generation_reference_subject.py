"""Insertion with a reference picture alone (no mask R, no alpha): its subject is inserted, never
its backdrop as a card (issue 12)."""

from __future__ import annotations

import numpy as np
import skimage.data
from generation_helpers import box_mask, decode, fast_settings, png, serve_in_process
from PIL import Image, ImageDraw

from retouch.generation.app import create_app
from retouch.sdk.models.generation import RunRequest


def _orange_on_grey() -> Image.Image:
    """A shaded orange on a noisy grey backdrop (as a product photo)."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:120, :120] / 120
    shade = np.clip(1.1 - 0.6 * np.hypot(yy - 0.35, xx - 0.4), 0.5, 1.0)[..., None]
    orange = np.array([245.0, 140.0, 20.0]) * shade + rng.normal(0, 5, (120, 120, 1))
    picture = rng.integers(115, 145, (120, 120, 3)).astype(np.float64)
    where = Image.new("L", (120, 120), 0)
    ImageDraw.Draw(where).ellipse((20, 20, 99, 99), fill=255)
    inside = np.asarray(where) > 0
    picture[inside] = orange[inside]
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


async def test_a_reference_alone_inserts_its_subject_not_its_backdrop() -> None:
    background = Image.fromarray(np.ascontiguousarray(skimage.data.grass()[:160, :200])).convert("RGB")
    reference = _orange_on_grey()
    target = (50, 20, 150, 120)
    request = RunRequest(
        prompt="",
        input_image=png(background),
        mask=png(box_mask(background.size, target)),
        mask_tool_type="box",
        reference_image=png(reference),
        task_type="insertion",
    )
    async with serve_in_process(create_app(fast_settings(engine="classic"))) as client:
        result = await client.generation.run(request)
    pixels = np.asarray(decode(result.image), dtype=np.float64)
    scene = np.asarray(background, dtype=np.float64)
    # The box's top corners are off the (round) orange: they keep the scene, no grey card.
    for rows, cols in ((slice(20, 30), slice(50, 60)), (slice(20, 30), slice(140, 150))):
        assert np.array_equal(pixels[rows, cols], scene[rows, cols])
    # The orange itself is there, its colour kept.
    centre = pixels[60:80, 90:110].reshape(-1, 3).mean(axis=0)
    expected = np.asarray(reference, dtype=np.float64)[50:70, 50:70].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - expected).max() < 12
    assert any("subject was separated" in note for note in result.notes)


async def test_a_reference_without_a_subject_is_inserted_whole_and_the_result_says_so() -> None:
    background = Image.new("RGB", (96, 96), (30, 90, 40))
    flat = Image.new("RGB", (64, 64), (200, 60, 60))  # nothing to separate from anything
    request = RunRequest(
        prompt="",
        input_image=png(background),
        mask=png(box_mask(background.size, (16, 16, 80, 80))),
        mask_tool_type="box",
        reference_image=png(flat),
        task_type="insertion",
    )
    async with serve_in_process(create_app(fast_settings(engine="classic"))) as client:
        result = await client.generation.run(request)
    pixels = np.asarray(decode(result.image))
    assert tuple(pixels[48, 48]) == (200, 60, 60)
    assert any("whole picture is the object" in note for note in result.notes)
