"""The subject of a picture sent without a mask: what stands out from the backdrop at its border.

An insertion's reference may come alone, with no alpha and no mask R (API.md: the whole picture is
the object). Pasting that whole picture puts its backdrop into the scene as a card; what the sender
means is the thing photographed on it. The picture's border is taken as backdrop (a frame crops the
scene around its subject), the rest as probably subject, and GrabCut separates the two by colour.
The subject is the largest connected part it keeps, holes filled. When nothing stands out (a
picture that is all backdrop, or all subject) the answer is ``None`` and the caller keeps the whole
picture, saying so.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from retouch.runtime.masks import fill_holes

__all__ = ["BORDER_FRACTION", "SUBJECT_AREA", "WORK_SIDE", "subject_mask"]

#: The band along the frame taken as backdrop, as a fraction of the shorter side.
BORDER_FRACTION: Final = 0.04
#: A subject smaller or larger than this fraction of the picture is no subject.
SUBJECT_AREA: Final = (0.01, 0.92)
#: GrabCut works on a copy this large at most (its cost grows with the pixels; the mask is smooth).
WORK_SIDE: Final = 320

Bool2D = NDArray[np.bool_]


def subject_mask(picture: Image.Image, *, iterations: int = 4) -> Bool2D | None:
    """Where the subject of ``picture`` is (``True``), at the picture's size; ``None`` when no
    subject stands out from the backdrop at the border."""
    import cv2

    rgb = np.asarray(picture.convert("RGB"))
    height, width = rgb.shape[:2]
    if min(height, width) < 16:
        return None
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = cv2.resize(
        rgb, (max(16, round(width * scale)), max(16, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    h, w = small.shape[:2]
    band = max(2, round(min(h, w) * BORDER_FRACTION))
    labels = np.full((h, w), cv2.GC_PR_FGD, np.uint8)
    labels[:band, :] = labels[-band:, :] = cv2.GC_BGD
    labels[:, :band] = labels[:, -band:] = cv2.GC_BGD
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(small[..., ::-1])
    try:
        cv2.grabCut(bgr, labels, (0, 0, w, h), background, foreground, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        # A picture whose subject colours equal its backdrop's leaves GrabCut no model to fit.
        return None
    inside = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    count, parts, stats, _ = cv2.connectedComponentsWithStats(inside.astype(np.uint8), connectivity=8)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    inside = fill_holes(parts == largest, h * w)
    share = float(inside.mean())
    if not SUBJECT_AREA[0] <= share <= SUBJECT_AREA[1]:
        return None
    if (h, w) == (height, width):
        return inside
    # Smooth edges at full size: the work copy's mask, resized linearly, cut at half.
    full = cv2.resize(inside.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    result: Bool2D = full >= 0.5
    return result
