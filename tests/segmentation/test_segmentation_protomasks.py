"""Candidate masks kept as prototypes and coefficients: exact point tests and full-size rendering."""

from __future__ import annotations

import numpy as np

from retouch.segmentation.protomasks import ProtoMasks


def protomasks(protos: np.ndarray, coeffs: list[list[float]], boxes: list[list[float]], **kw: object) -> ProtoMasks:
    values: dict[str, object] = {
        "region": (0.0, 0.0, float(protos.shape[2]), float(protos.shape[1])),
        "width": 32,
        "height": 32,
    }
    values.update(kw)
    return ProtoMasks(
        protos=protos.astype(np.float32),
        coeffs=np.asarray(coeffs, np.float32),
        boxes=np.asarray(boxes, np.float32),
        **values,  # type: ignore[arg-type]
    )


def test_a_mask_is_its_logits_above_zero_inside_its_box() -> None:
    ones = np.ones((1, 8, 8))
    masks = protomasks(ones, [[1.0], [-1.0]], [[4, 6, 20, 30], [0, 0, 32, 32]])
    first = masks.render([0])
    assert first.sum() == 16 * 24 and first[6:30, 4:20].all()
    assert not masks.render([1]).any()  # negative logits: empty whatever the box
    assert not masks.render([]).any()


def test_only_the_picture_part_of_a_letterboxed_grid_is_used() -> None:
    # The picture covers rows 2..6 of the grid; the padding rows above and below are negative.
    protos = -np.ones((1, 8, 8))
    protos[:, 2:6, :] = 1.0
    masks = protomasks(protos, [[1.0]], [[0, 0, 32, 32]], region=(0.0, 2.0, 8.0, 6.0))
    assert masks.render([0]).all()
    unpadded = protomasks(protos, [[1.0]], [[0, 0, 32, 32]])
    assert not unpadded.render([0]).all()


def test_point_tests_agree_with_the_rendered_masks() -> None:
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(4, 8, 8))
    coeffs = rng.normal(size=(6, 4)).tolist()
    boxes = [[0, 0, 32, 32], [3, 5, 29, 21], [10, 0, 32, 16], [0, 0, 16, 32], [7, 7, 8, 8], [0, 0, 32, 32]]
    masks = protomasks(protos, coeffs, boxes)
    yy, xx = np.mgrid[0:32, 0:32]
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)
    hits = masks.hits(points)
    for i in range(6):
        assert np.array_equal(hits[i], masks.render([i])[points[:, 1], points[:, 0]])


def test_render_of_several_is_their_union() -> None:
    ones = np.ones((1, 8, 8))
    masks = protomasks(ones, [[1.0], [1.0]], [[0, 0, 8, 8], [20, 20, 32, 32]])
    assert np.array_equal(masks.render([0, 1]), masks.render([0]) | masks.render([1]))
    assert masks.nbytes == ones.astype(np.float32).nbytes + 2 * 4 + 2 * 4 * 4
