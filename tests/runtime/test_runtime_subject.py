"""The subject of a picture sent without a mask (an insertion's reference alone)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageDraw

from retouch.runtime.subject import subject_mask


def test_an_object_on_a_backdrop_is_found_at_the_pictures_size() -> None:
    picture = Image.new("RGB", (300, 200), (235, 235, 230))
    truth = Image.new("L", picture.size, 0)
    ImageDraw.Draw(picture).ellipse((90, 40, 210, 160), fill=(40, 90, 200))
    ImageDraw.Draw(truth).ellipse((90, 40, 210, 160), fill=255)
    found = subject_mask(picture)
    assert found is not None and found.shape == (200, 300)
    inside = np.asarray(truth) > 127
    assert (found & inside).sum() / (found | inside).sum() > 0.95


def test_a_real_photo_of_a_cup_finds_the_cup() -> None:
    picture = Image.fromarray(skimage.data.coffee())
    found = subject_mask(picture)
    assert found is not None
    height, width = found.shape
    # The cup's centre is subject, the table at the corners is not.
    assert found[height // 3, width // 2]
    assert not found[5, 5] and not found[-5, -5] and not found[5, -5]


@pytest.mark.parametrize("colour", [(0, 0, 0), (128, 60, 200)])
def test_a_flat_picture_has_no_subject(colour: tuple[int, int, int]) -> None:
    assert subject_mask(Image.new("RGB", (120, 80), colour)) is None


def test_a_tiny_picture_has_no_subject() -> None:
    assert subject_mask(Image.new("RGB", (8, 8), (10, 20, 30))) is None
