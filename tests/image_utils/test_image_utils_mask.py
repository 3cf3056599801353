"""Mask operations in true pixels: a disk grown by N has radius r + N (checked on the lattice)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from image_utils_helpers import decode, disk, encode, mode_of

from retouch.sdk import AsyncClient
from retouch.sdk.errors import UnprocessableEntityError

H = W = 96
CX = CY = 47.3  # off the lattice, so no direction is special
R = 20.0


def _equivalent_radius(mask: np.ndarray) -> float:
    return math.sqrt(np.count_nonzero(mask > 127) / math.pi)


@pytest.mark.parametrize("amount", [1, 5, 12])
async def test_grow_moves_the_boundary_out_by_amount(client: AsyncClient, amount: int) -> None:
    result = await client.image_utils.mask(encode(disk(H, W, CX, CY, R)), "grow", amount=amount)
    grown = decode(result.mask)
    assert mode_of(result.mask) == "L"
    assert set(np.unique(grown)) <= {0, 255}
    # Every pixel within r + N - 1.5 is in, none beyond r + N (Euclidean distance, so a disk).
    assert np.all(grown[disk(H, W, CX, CY, R + amount - 1.5) == 255] == 255)
    assert np.all(grown[disk(H, W, CX, CY, R + amount) == 0] == 0)
    growth = _equivalent_radius(grown) - _equivalent_radius(disk(H, W, CX, CY, R))
    assert abs(growth - amount) < 0.75
    assert result.area == np.count_nonzero(grown)


@pytest.mark.parametrize("amount", [1, 5, 12])
async def test_shrink_moves_the_boundary_in_by_amount(client: AsyncClient, amount: int) -> None:
    result = await client.image_utils.mask(encode(disk(H, W, CX, CY, R)), "shrink", amount=amount)
    shrunk = decode(result.mask)
    assert np.all(shrunk[disk(H, W, CX, CY, R - amount) == 255] == 255)
    assert np.all(shrunk[disk(H, W, CX, CY, R - amount + 1.5) == 0] == 0)
    shrinkage = _equivalent_radius(disk(H, W, CX, CY, R)) - _equivalent_radius(shrunk)
    assert abs(shrinkage - amount) < 0.75


async def test_grow_then_shrink_of_a_disk_is_close_to_the_disk(client: AsyncClient) -> None:
    original = disk(H, W, CX, CY, R)
    grown = (await client.image_utils.mask(encode(original), "grow", amount=6)).mask
    back = decode((await client.image_utils.mask(grown, "shrink", amount=6)).mask)
    assert np.count_nonzero(back != original) < 0.02 * np.count_nonzero(original)


async def test_shrink_does_not_treat_the_image_border_as_outside(client: AsyncClient) -> None:
    mask = np.zeros((30, 40), np.uint8)
    mask[:, :20] = 255
    shrunk = decode((await client.image_utils.mask(encode(mask), "shrink", amount=3)).mask)
    expected = np.zeros_like(mask)
    expected[:, :17] = 255
    np.testing.assert_array_equal(shrunk, expected)


async def test_feather_is_a_ramp_of_amount_pixels_centred_on_the_edge(client: AsyncClient) -> None:
    mask = np.zeros((20, 60), np.uint8)
    mask[:, :30] = 255  # a vertical edge between columns 29 and 30
    feathered = decode((await client.image_utils.mask(encode(mask), "feather", amount=10)).mask)
    row = feathered[10].astype(int)
    assert np.all(feathered == feathered[0])  # the same in every row
    assert np.all(row[:25] == 255) and np.all(row[35:] == 0)
    ramp = row[25:35]
    assert np.all(np.diff(ramp) < 0)  # strictly decreasing through the band
    assert np.all((ramp > 0) & (ramp < 255))
    # Symmetric about the edge: value(29 - k) + value(30 + k) == 255.
    np.testing.assert_allclose(row[29::-1][:5] + row[30:35], 255, atol=1)


async def test_feather_of_a_disk_keeps_its_half_level_contour(client: AsyncClient) -> None:
    original = disk(H, W, CX, CY, R)
    feathered = decode((await client.image_utils.mask(encode(original), "feather", amount=8)).mask)
    intermediate = (feathered > 0) & (feathered < 255)
    assert np.count_nonzero(intermediate) > 2 * math.pi * R * 6
    assert np.count_nonzero((feathered > 127) != (original > 127)) < 2 * math.pi * R * 0.1


async def test_invert_keeps_soft_values(client: AsyncClient) -> None:
    mask = np.arange(256, dtype=np.uint8).reshape(16, 16)
    inverted = decode((await client.image_utils.mask(encode(mask), "invert")).mask)
    np.testing.assert_array_equal(inverted, 255 - mask)


async def test_threshold(client: AsyncClient) -> None:
    mask = np.arange(256, dtype=np.uint8).reshape(16, 16)
    result = await client.image_utils.mask(encode(mask), "threshold", threshold=99)
    np.testing.assert_array_equal(decode(result.mask), np.where(mask > 99, 255, 0))
    assert result.area == 156


async def test_empty_and_full_masks_stay_so(client: AsyncClient) -> None:
    empty, full = np.zeros((10, 10), np.uint8), np.full((10, 10), 255, np.uint8)
    assert decode((await client.image_utils.mask(encode(empty), "grow", amount=3)).mask).max() == 0
    assert decode((await client.image_utils.mask(encode(full), "shrink", amount=3)).mask).min() == 255
    assert decode((await client.image_utils.mask(encode(full), "feather", amount=3)).mask).min() == 255


async def test_colour_mask_is_read_as_grey(client: AsyncClient) -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[2:5, 2:5] = 255
    result = await client.image_utils.mask(encode(rgb), "threshold")
    assert result.area == 9


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"amount": -1}, "amount"),
        ({"amount": 1e9}, "amount"),
        ({"threshold": 256}, "threshold"),
        ({"operation": "dilate"}, "operation"),
    ],
)
async def test_bad_parameters_are_named(client: AsyncClient, options: dict[str, object], field: str) -> None:
    operation = options.pop("operation", "grow")
    with pytest.raises(UnprocessableEntityError) as info:
        await client.image_utils.mask(encode(disk(10, 10, 5, 5, 3)), operation, **options)  # type: ignore[arg-type]
    assert info.value.problem.detail.startswith(f"{field}:")
