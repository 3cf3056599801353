"""The pieces shared by every engine: letterboxing, compositing, conditioning, settings."""

from __future__ import annotations

import numpy as np
import pytest
from generation_helpers import box_mask, png, smooth_background
from PIL import Image

from retouch.generation.compositing import composite, grow, protected
from retouch.generation.conditioning import DEFAULT_PROMPTS, build_conditioning, cutout, mask_bbox
from retouch.generation.letterbox import fit_frame, letterbox, unletterbox
from retouch.generation.settings import GenerationSettings
from retouch.generation.validation import validate
from retouch.runtime.settings import SettingsError, load_settings
from retouch.sdk.models.generation import RunRequest


@pytest.mark.parametrize("size", [(37, 91), (91, 37), (64, 64), (1, 300), (300, 1), (1000, 999)])
def test_letterbox_and_back_gives_exactly_the_original_size(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    picture = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    framed, placement = letterbox(picture, (64, 64))
    assert framed.size == (64, 64)
    left, top, right, bottom = placement.box
    assert 0 <= left <= right <= 64 and 0 <= top <= bottom <= 64
    assert right - left == 64 or bottom - top == 64  # fitted to one side
    back = unletterbox(framed, placement)
    assert back.size == size


def test_letterbox_keeps_the_aspect_and_pads_masks_with_no_edit() -> None:
    mask = box_mask((100, 50), (0, 0, 100, 50))
    framed, placement = letterbox(mask, (64, 64), mask=True)
    assert placement.box == (0, 16, 64, 48)
    values = np.asarray(framed)
    assert set(np.unique(values)) == {0, 255}
    assert values[:16].max() == 0 and values[48:].max() == 0 and values[16:48].min() == 255


def test_unletterbox_accepts_an_output_of_another_resolution() -> None:
    picture = Image.new("RGB", (30, 20), (10, 200, 30))
    framed, placement = letterbox(picture, (64, 64))
    assert unletterbox(framed.resize((128, 128)), placement).size == (30, 20)


@pytest.mark.parametrize(
    ("size", "frame"), [((64, 48), (64, 48)), ((4000, 3000), (2048, 1536)), ((100, 10), (96, 16)), ((7, 7), (16, 16))]
)
def test_fit_frame_rounds_to_the_latent_grid_within_the_limit(size: tuple[int, int], frame: tuple[int, int]) -> None:
    assert fit_frame(size, 2048) == frame


def test_composite_is_bit_identical_outside_the_grown_mask_and_the_edit_inside() -> None:
    rng = np.random.default_rng(1)
    original = Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8))
    edited = Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8))
    mask = box_mask((70, 50), (20, 15, 40, 35))
    result = np.asarray(composite(original, edited, mask, 6))
    keep = protected(mask, 6)
    inside = np.asarray(mask) > 127
    assert np.array_equal(result[keep], np.asarray(original)[keep])
    assert np.array_equal(result[inside], np.asarray(edited)[inside])
    band = ~keep & ~inside
    assert band.any()
    # the band blends: never outside the two pictures' range
    low = np.minimum(np.asarray(original), np.asarray(edited))[band]
    high = np.maximum(np.asarray(original), np.asarray(edited))[band]
    assert (result[band] >= low).all() and (result[band] <= high).all()


def test_composite_refuses_pictures_of_different_sizes() -> None:
    with pytest.raises(ValueError):
        composite(Image.new("RGB", (10, 10)), Image.new("RGB", (10, 11)), Image.new("L", (10, 10)), 2)


def test_grow_widens_a_mask_by_the_given_pixels() -> None:
    grown = np.asarray(grow(box_mask((40, 40), (20, 20, 21, 21)), 5)) > 127
    assert grown[20, 15] and grown[20, 25] and not grown[20, 14] and not grown[20, 26]


def test_cutout_is_the_masked_object_cropped_with_transparency() -> None:
    reference = Image.new("RGB", (50, 40), (1, 2, 3))
    reference.paste((200, 0, 0), (10, 5, 30, 15))
    mask = box_mask((50, 40), (10, 5, 30, 15))
    obj = cutout(reference, mask)
    assert obj.mode == "RGBA" and obj.size == (20, 10)
    assert obj.getpixel((0, 0)) == (200, 0, 0, 255)
    assert mask_bbox(mask) == (10, 5, 30, 15)
    assert mask_bbox(Image.new("L", (5, 5))) is None


def _job(task: str = "removal", **fields: object) -> object:
    picture = Image.fromarray(smooth_background(80, 40))
    base: dict[str, object] = {"prompt": "", "input_image": png(picture), "task_type": task}
    if task != "white-balance":
        base["mask"] = png(box_mask((80, 40), (10, 10, 30, 30)))
    base.update(fields)
    return validate(RunRequest(**base), run_id="j", settings=GenerationSettings())  # type: ignore[arg-type]


def test_conditioning_is_a_pure_function_of_the_job() -> None:
    job = _job()
    first = build_conditioning(job, (64, 64))  # type: ignore[arg-type]
    second = build_conditioning(job, (64, 64))  # type: ignore[arg-type]
    assert first.prompt == second.prompt == DEFAULT_PROMPTS["removal"]
    assert [image.tobytes() for image in first.images] == [image.tobytes() for image in second.images]
    assert first.placement == second.placement
    assert all(image.size == (64, 64) for image in first.images)


def test_conditioning_pictures_per_task() -> None:
    reference = Image.new("RGB", (30, 30), (200, 0, 0))
    ref_mask = box_mask((30, 30), (5, 5, 25, 25))
    extra = Image.new("RGB", (20, 20), (0, 0, 255))
    removal = build_conditioning(_job(), (64, 64))  # type: ignore[arg-type]
    insertion = build_conditioning(
        _job("insertion", reference_image=png(reference), reference_mask_R=png(ref_mask)),  # type: ignore[arg-type]
        (64, 64),
    )
    by_prompt = build_conditioning(_job("insertion", prompt="a red ball"), (64, 64))  # type: ignore[arg-type]
    balance = build_conditioning(_job("white-balance"), (64, 64))  # type: ignore[arg-type]
    with_extra = build_conditioning(
        _job(mask=None, conditional_images=[png(box_mask((80, 40), (10, 10, 30, 30))), png(extra)]),  # type: ignore[arg-type]
        (64, 64),
    )
    assert (len(removal.images), len(insertion.images), len(by_prompt.images), len(balance.images)) == (2, 3, 2, 1)
    assert len(with_extra.images) == 3
    assert "a red ball" in by_prompt.prompt
    assert balance.frame_mask is None and removal.frame_mask is not None
    assert insertion.images[2].getpixel((32, 32)) == (200, 0, 0)  # the object, on its own
    user = build_conditioning(_job(prompt="  erase the lamp  "), (64, 64))  # type: ignore[arg-type]
    assert user.prompt == "erase the lamp"


def test_a_brush_mask_is_grown_and_a_box_mask_is_not() -> None:
    brush = _job()
    box = _job(mask_tool_type="box")
    brush_pixels = (np.asarray(brush.mask) > 127).sum()  # type: ignore[attr-defined]
    box_pixels = (np.asarray(box.mask) > 127).sum()  # type: ignore[attr-defined]
    assert box_pixels == 20 * 20 and brush_pixels > box_pixels


def test_settings_from_the_environment() -> None:
    env = {
        "RETOUCH_GENERATION_ENGINE": "qwen",
        "RETOUCH_GENERATION_EXTRA_ENGINES": "classic",
        "RETOUCH_QWEN_LORAS": "removal=/w/a.safetensors, white-balance=/w/b.safetensors",
        "RETOUCH_QWEN_MODEL_DIR": "/models/qwen",
        "RETOUCH_GENERATION_MAX_CONCURRENT_RUNS": "2",
    }
    settings = load_settings(GenerationSettings, env)
    assert settings.engines == ("qwen", "classic")
    assert settings.qwen_loras == {"removal": "/w/a.safetensors", "white-balance": "/w/b.safetensors"}
    assert settings.max_concurrent_runs == 2 and str(settings.qwen_model_dir) == "/models/qwen"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RETOUCH_GENERATION_ENGINE", "dalle"),
        ("RETOUCH_GENERATION_MAX_CONCURRENT_RUNS", "0"),
        ("RETOUCH_GENERATION_WORKING_SIZE", "1000"),
        ("RETOUCH_QWEN_LORAS", "colorize=/w/c.safetensors"),
        ("RETOUCH_CLASSIC_SHADOW_OPACITY", "2"),
        ("RETOUCH_GENERATION_COMPOSITE_GROW_PX", "-1"),
    ],
)
def test_a_bad_setting_fails_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(GenerationSettings, {variable: value})
    assert variable in str(caught.value)


def test_the_qwen_engine_needs_its_model_dir_and_existing_lora_files() -> None:
    from retouch.generation.runner import Runner

    with pytest.raises(SettingsError, match="RETOUCH_QWEN_MODEL_DIR"):
        Runner(GenerationSettings(engine="qwen"))
    with pytest.raises(SettingsError, match="do not exist"):
        Runner(GenerationSettings(engine="qwen", qwen_model_dir="/nowhere", qwen_loras={"removal": "/nowhere/a"}))  # type: ignore[arg-type]
