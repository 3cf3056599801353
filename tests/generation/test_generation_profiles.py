"""The conditioning profiles, picture by picture, on small hand-made inputs: what each LoRA family
is shown is a pure function of its inputs."""

from __future__ import annotations

import numpy as np
import pytest
from generation_helpers import box_mask
from PIL import Image

from retouch.generation.conditioning import (
    DEFAULT_PROMPTS,
    PROFILES,
    SEED_CFG,
    SEED_STEPS,
    Framed,
    canny_edges,
    darken,
    hole,
    instruct_profile,
    place_reference_mask,
    seed_profile,
    widen_for_shadow,
)
from retouch.generation.settings import PROFILE_NAMES

W, H = 32, 24


def _picture() -> Image.Image:
    y, x = np.mgrid[0:H, 0:W]
    pixels = np.stack([x * 7 % 256, y * 10 % 256, (x + y) * 3 % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


MASK = box_mask((W, H), (8, 6, 16, 14))
INSIDE = _arr(MASK) > 127


def test_every_configurable_profile_exists() -> None:
    assert set(PROFILES) == set(PROFILE_NAMES)


def test_hole_blackens_exactly_the_mask() -> None:
    picture = _picture()
    holed = _arr(hole(picture, MASK))
    assert (holed[INSIDE] == 0).all()
    assert np.array_equal(holed[~INSIDE], _arr(picture)[~INSIDE])


def test_darken_multiplies_only_the_region() -> None:
    picture = Image.new("RGB", (4, 1), (200, 100, 51))
    region = box_mask((4, 1), (0, 0, 2, 1))
    assert _arr(darken(picture, region, 0.5)).tolist() == [
        [[100, 50, 26], [100, 50, 26], [200, 100, 51], [200, 100, 51]]
    ]


def test_seed_removal_is_hole_mask_prefill_with_its_prompt_steps_and_no_cfg() -> None:
    picture = _picture()
    prefill = Image.new("RGB", (W, H), (10, 200, 30))
    framed = Framed(task="removal", picture=picture, mask=MASK, prefill=prefill, prompt="erase the lamp")
    out = seed_profile(framed)
    first, second, third = (_arr(image) for image in out.images)
    assert (first[INSIDE] == 0).all() and np.array_equal(first[~INSIDE], _arr(picture)[~INSIDE])
    assert (second[INSIDE] == 255).all() and (second[~INSIDE] == 0).all() and second.shape == (H, W, 3)
    assert np.array_equal(third, _arr(prefill))
    assert (out.prompt, out.steps, out.true_cfg_scale, out.negative_prompt) == ("remove object", SEED_STEPS, 1.0, None)
    assert out.notes and "remove object" in out.notes[0]  # the client's prompt was not used, and it is told
    assert seed_profile(framed).images[0].tobytes() == out.images[0].tobytes()  # pure


def test_seed_removal_needs_its_prefill() -> None:
    with pytest.raises(ValueError, match="pre-filled"):
        seed_profile(Framed(task="removal", picture=_picture(), mask=MASK))


def test_the_reference_mask_is_scaled_into_the_target_box() -> None:
    reference_mask = box_mask((10, 10), (2, 4, 6, 8))  # a 4x4 object
    placed = _arr(place_reference_mask(reference_mask, MASK)) > 127
    assert placed.sum() == 8 * 8 and np.array_equal(placed, INSIDE)
    # A non-rectangular silhouette keeps its shape: an L becomes a scaled L.
    shape = Image.new("L", (4, 4), 0)
    shape.paste(255, (0, 0, 1, 4))
    shape.paste(255, (0, 3, 4, 4))
    scaled = _arr(place_reference_mask(shape, MASK)) > 127
    assert scaled[6:14, 8:10].all() and scaled[12:14, 8:16].all() and not scaled[6:12, 10:16].any()


def test_widening_for_a_shadow_grows_and_reaches_below() -> None:
    widened = _arr(widen_for_shadow(MASK)) > 127
    assert widened[INSIDE].all() and widened.sum() > INSIDE.sum()
    rows = np.flatnonzero(widened.any(axis=1))
    assert rows[-1] > 13 + 1 and rows[0] >= 6 - 2  # more room below than above


def test_seed_insertion_layout_and_composite_mask() -> None:
    picture = _picture()
    reference = Image.new("RGB", (10, 20), (250, 0, 0))
    reference.paste((0, 0, 250), (0, 10, 10, 20))
    reference_mask = box_mask((10, 20), (2, 2, 8, 18))
    framed = Framed(task="insertion", picture=picture, mask=MASK, reference=reference, reference_mask=reference_mask)
    out = seed_profile(framed)
    stretched, widened, base = (_arr(image) for image in out.images)
    # 1: the reference stretched to the picture's size (top half red, bottom half blue)
    assert stretched.shape == (H, W, 3)
    assert tuple(stretched[2, W // 2]) == (250, 0, 0) and tuple(stretched[H - 3, W // 2]) == (0, 0, 250)
    # 2: the silhouette in the target box, widened; the output is composited over it
    placed = _arr(place_reference_mask(reference_mask, MASK)) > 127
    region = widened[..., 0] > 127
    assert region[placed].all() and region.sum() > placed.sum()
    assert out.composite_mask is not None and np.array_equal(_arr(out.composite_mask) > 127, region)
    # 3: the picture with the object's hole black and the shadow region darkened, the rest untouched
    shadow = region & ~placed
    assert (base[placed] == 0).all()
    assert (base[shadow].astype(int) <= _arr(picture)[shadow].astype(int)).all()
    assert (base[shadow] != _arr(picture)[shadow]).any()
    assert np.array_equal(base[~region], _arr(picture)[~region])
    assert (out.prompt, out.steps, out.true_cfg_scale) == ("insert object", SEED_STEPS, SEED_CFG["insertion"])


def test_seed_white_balance_is_picture_and_edges_with_true_cfg_3_3() -> None:
    picture = Image.new("RGB", (W, H), (40, 40, 40))
    picture.paste((220, 220, 220), (10, 0, 32, 24))  # one vertical edge at x = 10
    out = seed_profile(Framed(task="white-balance", picture=picture))
    assert out.images[0].tobytes() == picture.tobytes()
    edges = _arr(out.images[1])
    assert edges.shape == (H, W, 3) and set(np.unique(edges)) <= {0, 255}
    columns = np.flatnonzero(edges[..., 0].any(axis=0))
    assert columns.size and all(8 <= c <= 11 for c in columns)  # only the edge, nothing else
    assert (out.true_cfg_scale, out.steps, out.negative_prompt) == (3.3, SEED_STEPS, " ")


def test_canny_edges_ignore_noise_the_bilateral_filter_flattens() -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8)
    assert not _arr(canny_edges(Image.fromarray(noisy))).any()


def test_extras_follow_the_profiles_pictures() -> None:
    extra = Image.new("RGB", (5, 5), (1, 2, 3))
    framed = Framed(task="white-balance", picture=_picture(), extras=(extra,))
    assert seed_profile(framed).images[-1] is extra and instruct_profile(framed).images[-1] is extra


def test_instruct_profile_is_picture_mask_cutout_with_instructions() -> None:
    picture = _picture()
    removal = instruct_profile(Framed(task="removal", picture=picture, mask=MASK))
    assert [image.size for image in removal.images] == [(W, H), (W, H)]
    assert removal.images[0].tobytes() == picture.tobytes()  # the object stays visible: instruct's layout
    assert removal.prompt == DEFAULT_PROMPTS["removal"] and removal.steps is None and removal.true_cfg_scale is None
    reference = Image.new("RGB", (10, 10), (0, 200, 0))
    inserted = instruct_profile(
        Framed(
            task="insertion",
            picture=picture,
            mask=MASK,
            reference=reference,
            reference_mask=box_mask((10, 10), (3, 3, 7, 7)),
        )
    )
    assert len(inserted.images) == 3 and inserted.images[2].getpixel((W // 2, H // 2)) == (0, 200, 0)
    by_prompt = instruct_profile(Framed(task="insertion", picture=picture, mask=MASK, prompt="a red ball"))
    assert len(by_prompt.images) == 2 and "a red ball" in by_prompt.prompt
    user = instruct_profile(Framed(task="removal", picture=picture, mask=MASK, prompt="erase the lamp"))
    assert user.prompt == "erase the lamp"


def test_the_prompt_a_lora_was_trained_on_can_be_named() -> None:
    framed = Framed(task="white-balance", picture=_picture(), trained_prompt="fix the colours")
    assert seed_profile(framed).prompt == "fix the colours"
    assert instruct_profile(framed).prompt == "fix the colours"
    asked = Framed(task="white-balance", picture=_picture(), trained_prompt="fix the colours", prompt="warmer")
    assert instruct_profile(asked).prompt == "warmer"  # instruct follows the client's instruction
    assert seed_profile(asked).prompt == "fix the colours" and seed_profile(asked).notes


def test_prompts_for_unknown_tasks_are_refused() -> None:
    from retouch.generation.settings import GenerationSettings
    from retouch.runtime.settings import SettingsError, load_settings

    settings = load_settings(GenerationSettings, {"RETOUCH_QWEN_PROMPTS": "removal=erase it"}, log_json=False)
    assert settings.qwen_prompts == {"removal": "erase it"}
    with pytest.raises(SettingsError, match="RETOUCH_QWEN_PROMPTS"):
        load_settings(GenerationSettings, {"RETOUCH_QWEN_PROMPTS": "recolour=x"}, log_json=False)
    with pytest.raises(SettingsError, match="RETOUCH_QWEN_PROFILES"):
        load_settings(GenerationSettings, {"RETOUCH_QWEN_PROFILES": "removal=fancy"}, log_json=False)
