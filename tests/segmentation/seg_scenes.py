"""Generated test pictures with known ground truth: objects on a textured background."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def textured_background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A busy blue-green background: diagonal stripes, blotches and pixel noise (RGB uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((xx + 0.6 * yy) / 5.0)
    coarse = rng.random((height // 16 + 2, width // 16 + 2)).astype(np.float32)
    blotches = (
        np.asarray(
            Image.fromarray((coarse * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR),
            np.float32,
        )
        / 255.0
    )
    noise = rng.normal(0.0, 12.0, (height, width, 3))
    base = np.stack(
        [30 + 40 * stripes + 30 * blotches, 110 + 50 * blotches + 30 * stripes, 120 + 60 * stripes + 40 * blotches],
        axis=-1,
    )
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def disk(width: int, height: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Boolean mask of a disk."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def paint(
    image: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int], seed: int = 1, noise: float = 10.0
) -> np.ndarray:
    """``image`` with ``mask`` painted a noisy ``rgb``."""
    rng = np.random.default_rng(seed)
    out = image.copy()
    colour = np.asarray(rgb, np.float32) + rng.normal(0.0, noise, (int(mask.sum()), 3))
    out[mask] = np.clip(colour, 0, 255).astype(np.uint8)
    return out


def png(array: np.ndarray) -> bytes:
    """PNG bytes of an RGB or L array."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def decode_mask(data: bytes) -> np.ndarray:
    """A mask PNG as a ``uint8`` array (mode L checked)."""
    image = Image.open(io.BytesIO(data))
    assert image.mode == "L", image.mode
    return np.asarray(image)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


W, H = 256, 192


def b64(data: bytes) -> str:
    """Base64 text of bytes, as JSON carries images."""
    return base64.b64encode(data).decode("ascii")


def disk_scene(seed: int = 0, cx: float = 110, cy: float = 96, r: float = 42) -> tuple[np.ndarray, np.ndarray]:
    """A noisy brown disk on the textured background: the picture (RGB) and the true disk."""
    truth = disk(W, H, cx, cy, r)
    return paint(textured_background(W, H, seed), truth, (150, 120, 90), seed, noise=25), truth


def two_object_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The disk scene with a second, more orange disk touching it on the right: picture, A, B."""
    image, a = disk_scene(seed)
    b = disk(W, H, 110 + 42 + 28, 96, 30) & ~a
    return paint(image, b, (190, 100, 70), seed + 10, noise=25), a, b


def response_mask(answer: dict[str, object]) -> np.ndarray:
    """The answer's mask (mode L checked) as a ``uint8`` array."""
    data = answer["mask_base64"]
    assert isinstance(data, str)
    return decode_mask(base64.b64decode(data))
