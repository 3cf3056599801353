"""Classic-engine quality on real photographs with known ground truth (issue 12).

    python tests/bench/quality.py [--size N] [--out DIR] [--photos a,b,...] [--placements N]
    hatch run bench:quality

Photographs are scikit-image's (``skimage.data``, shipped in its wheel; nothing is downloaded),
scaled so their longer side is ``--size`` (default: as shipped).

1. **Removal.** An object (a textured orange blob) is pasted onto each photo (``--placements``
   places, two by default) and masked as a brush would: an irregular blob a little larger than the
   object. The hole is filled by OpenCV Telea,
   by plain shift-map (``cv2.xphoto.inpaint``, the whole picture), and by the classic engine's
   removal (``exemplar``, the default), all in this run. Scored inside the hole against the photo:
   - ``tex``: high-frequency energy (mean |grey - Gaussian(grey, 2)|) of the fill over the truth's;
     right near 1 (a smear is near 0).
   - ``coarse``: mean absolute RGB error after a Gaussian blur (sigma 4) of fill and truth.
   Goal: ``tex`` within 0.7-1.4 and ``coarse`` at most 1.2x Telea's on every photo and placement.
2. **White balance on clipped casts.** Each photo, in linear light, is lit by a strong cast and
   over-exposed so its highlights clip, then quantised. Scored: the angle (degrees) between the
   estimated light and the cast (the photo as shot is the truth), and the mean RGB error of the corrected picture against the photo
   (unclipped pixels, after matching overall brightness), for the robust estimate (the one the
   engine and the preview use) and plain grey-world / white-patch. Also the issue's repro: a wall
   measured (253, 202, 112) beside clipped highlights (it came out cyan, 167, 248, 254).
3. **Insertion colour.** An orange (shaded, textured) on a grey backdrop is inserted into each photo
   with the engine's ``alpha`` blend (the default) and ``poisson``. Scored on the object's opaque
   core: mean hue shift (degrees) and mean colour error (RGB) against the reference object.

Prints the tables, writes ``bench-results/quality.json`` and a picture grid ``quality-removal.png``
(per photo: input / Telea / shift-map / ours, cropped around the hole).
"""

from __future__ import annotations

import argparse
import colorsys
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from retouch.generation.engines.classic import insert_object, remove_object
from retouch.runtime.white_balance import estimate_illuminant, white_balance

U8 = NDArray[np.uint8]
Bools = NDArray[np.bool_]

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel")
TEX_RANGE = (0.7, 1.4)
COARSE_FACTOR = 1.2
#: Linear-light casts: the repro's warm light (a white wall under it reads 253, 202, 112), a blue
#: shade and a green fluorescent one.
CASTS = {"warm": (1.0, 0.6, 0.165), "blue": (0.55, 0.8, 1.0), "green": (0.75, 1.0, 0.6)}


def load_photo(name: str, size: int | None) -> U8:
    """A scikit-image photograph as RGB, its longer side ``size`` when given."""
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)())
    if pixels.ndim == 2:
        pixels = np.dstack([pixels] * 3)
    pixels = np.ascontiguousarray(pixels[..., :3])
    if size is not None and max(pixels.shape[:2]) != size:
        scale = size / max(pixels.shape[:2])
        wh = (max(8, round(pixels.shape[1] * scale)), max(8, round(pixels.shape[0] * scale)))
        pixels = np.asarray(Image.fromarray(pixels).resize(wh, Image.Resampling.LANCZOS))
    return pixels


def blob(shape: tuple[int, int], centre: tuple[float, float], radius: float, seed: int) -> Bools:
    """An irregular blob (a brush stroke's outline): a circle with random low harmonics."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    angle = np.arctan2(yy - centre[0], xx - centre[1])
    wobble = sum(rng.uniform(0.05, 0.16) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in range(2, 6))
    inside: Bools = np.hypot(yy - centre[0], xx - centre[1]) < radius * (1 + wobble)
    return inside


def scene(photo: U8, seed: int) -> tuple[U8, Bools]:
    """``photo`` with a textured orange object pasted on, and the brush mask over it."""
    h, w = photo.shape[:2]
    rng = np.random.default_rng(seed)
    centre = (h * rng.uniform(0.4, 0.65), w * rng.uniform(0.35, 0.65))
    radius = min(h, w) * 0.085
    obj = blob((h, w), centre, radius, seed)
    brush = blob((h, w), centre, radius * 1.25, seed + 100) | obj
    brush = cv2.dilate(brush.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    pasted = photo.copy()
    texture = rng.normal(0, 12, (h, w, 1))
    pasted[obj] = np.clip(np.array([225.0, 120.0, 35.0]) + texture[obj], 0, 255).astype(np.uint8)
    return pasted, brush


def high_freq(pixels: U8, region: Bools) -> float:
    """Mean absolute high-pass (grey minus its sigma-2 blur) inside ``region``."""
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0))[region].mean())


def coarse_error(a: U8, b: U8, region: Bools) -> float:
    """Mean absolute RGB difference inside ``region`` after a sigma-4 blur of both."""
    blur_a = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 4.0)
    blur_b = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 4.0)
    return float(np.abs(blur_a - blur_b)[region].mean())


def shift_map(pixels: U8, hole: Bools) -> U8:
    """Plain OpenCV contrib shift-map on the whole picture (Lab, as it expects)."""
    lab = cv2.cvtColor(pixels, cv2.COLOR_RGB2Lab)
    out = np.zeros_like(lab)
    cv2.xphoto.inpaint(lab, np.where(hole, 0, 255).astype(np.uint8), out, cv2.xphoto.INPAINT_SHIFTMAP)
    return np.asarray(cv2.cvtColor(out, cv2.COLOR_Lab2RGB), np.uint8)


def _crop(pixels: U8, hole: Bools, height: int) -> Image.Image:
    ys, xs = np.nonzero(hole)
    margin = max(8, (ys.max() - ys.min()) // 2)
    top, bottom = max(0, ys.min() - margin), min(hole.shape[0], ys.max() + margin + 1)
    left, right = max(0, xs.min() - margin), min(hole.shape[1], xs.max() + margin + 1)
    part = Image.fromarray(pixels[top:bottom, left:right])
    return part.resize((max(1, round(part.width * height / part.height)), height), Image.Resampling.LANCZOS)


def bench_removal(photos: dict[str, U8], placements: int = 2) -> tuple[list[dict[str, Any]], Image.Image]:
    """Removal scores per photo and placement of the object, and the picture grid."""
    rows: list[dict[str, Any]] = []
    tiles: list[list[Image.Image]] = []
    cases = [
        (name, photo, index + 1 + 50 * k)
        for k in range(placements)
        for index, (name, photo) in enumerate(photos.items())
    ]
    for name, photo, seed in cases:
        pasted, hole = scene(photo, seed=seed)
        mask = Image.fromarray(hole.astype(np.uint8) * 255, "L")
        started = time.perf_counter()
        telea = np.asarray(cv2.inpaint(pasted, hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA), np.uint8)
        telea_s = time.perf_counter() - started
        started = time.perf_counter()
        shifted = shift_map(pasted, hole)
        shift_s = time.perf_counter() - started
        started = time.perf_counter()
        ours = np.asarray(remove_object(Image.fromarray(pasted), mask, method="exemplar", radius=5, max_side=None))
        ours_s = time.perf_counter() - started
        truth_hf = max(high_freq(photo, hole), 1e-6)
        row: dict[str, Any] = {
            "photo": name,
            "seed": seed,
            "size": [photo.shape[1], photo.shape[0]],
            "hole_px": int(hole.sum()),
        }
        for label, filled, seconds in (
            ("telea", telea, telea_s),
            ("shiftmap", shifted, shift_s),
            ("ours", ours, ours_s),
        ):
            row[label] = {
                "tex": round(high_freq(filled, hole) / truth_hf, 3),
                "coarse": round(coarse_error(filled, photo, hole), 2),
                "seconds": round(seconds, 3),
            }
        row["outside_unchanged"] = bool(np.array_equal(ours[~hole], pasted[~hole]))
        row["pass"] = bool(
            TEX_RANGE[0] <= row["ours"]["tex"] <= TEX_RANGE[1]
            and row["ours"]["coarse"] <= COARSE_FACTOR * row["telea"]["coarse"]
        )
        rows.append(row)
        tiles.append([_crop(p, hole, 160) for p in (pasted, telea, shifted, ours)])
    width = max(sum(t.width for t in row_tiles) + 3 * 4 for row_tiles in tiles)
    grid = Image.new("RGB", (width, len(tiles) * 164), (255, 255, 255))
    for r, row_tiles in enumerate(tiles):
        x = 0
        for tile in row_tiles:
            grid.paste(tile, (x, r * 164))
            x += tile.width + 4
    draw = ImageDraw.Draw(grid)
    draw.text((2, 2), "input | Telea | shift-map | ours", fill=(255, 255, 0))
    return rows, grid


def _to_linear(pixels: U8) -> NDArray[np.float64]:
    srgb = pixels.astype(np.float64) / 255.0
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _to_u8(linear: NDArray[np.float64]) -> U8:
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.rint(srgb * 255.0).astype(np.uint8)


def _angle(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def bench_white_balance(photos: dict[str, U8]) -> list[dict[str, Any]]:
    """Illuminant angle and corrected-picture error per photo, cast and method."""
    rows: list[dict[str, Any]] = []
    for name, photo in photos.items():
        linear = _to_linear(photo)
        for cast_name, cast in CASTS.items():
            light = np.array(cast)
            lit = linear * light
            # Over-exposed so that about 3% of the pixels clip in some channel.
            exposure = 1.0 / max(float(np.percentile(lit.max(axis=2), 97)), 1e-6)
            cast_pixels = _to_u8(lit * exposure)
            unclipped = (cast_pixels.max(axis=2) < 254) & (photo.max(axis=2) < 254)
            row: dict[str, Any] = {"photo": name, "cast": cast_name}
            for method in ("robust", "gray-world", "white-patch"):
                estimate = estimate_illuminant(cast_pixels, method)  # type: ignore[arg-type]
                corrected = np.asarray(white_balance(Image.fromarray(cast_pixels), method)[0])  # type: ignore[arg-type]
                out_lin = _to_linear(corrected)[unclipped]
                truth_lin = linear[unclipped]
                scale = float(np.median(truth_lin.sum(axis=1)) / max(np.median(out_lin.sum(axis=1)), 1e-9))
                error = np.abs(_to_u8(out_lin * scale).astype(float) - photo[unclipped].astype(float)).mean()
                row[method] = {
                    "angle_deg": round(_angle(estimate, light), 2),
                    "rgb_error": round(float(error), 2),
                }
            rows.append(row)
    return rows


def wall_repro() -> dict[str, Any]:
    """The issue's scene: a wall reading (253, 202, 112), clipped highlights, a darker floor."""
    pixels = np.zeros((300, 400, 3), np.uint8)
    pixels[:] = (253, 202, 112)
    pixels[20:120, 40:160] = 255
    pixels[30:110, 200:260] = (255, 244, 190)
    rng = np.random.default_rng(0)
    floor = rng.uniform(0.05, 0.5, (100, 400, 1)) * np.array([0.98, 0.59, 0.16]) * np.array([1.8, 1.2, 0.9])
    pixels[200:] = _to_u8(floor)
    corrected = np.asarray(white_balance(Image.fromarray(pixels))[0])
    wall = corrected[130:190, 280:380].reshape(-1, 3).mean(axis=0)
    cyan = bool(wall[0] < min(wall[1], wall[2]) - 10)
    return {"wall_in": [253, 202, 112], "wall_out": [round(float(v), 1) for v in wall], "cyan": cyan}


def orange_reference(size: int = 120) -> tuple[Image.Image, Image.Image]:
    """A shaded, dimpled orange on a grey backdrop, and its mask."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:size, :size] / size
    shade = np.clip(1.1 - 0.6 * np.hypot(yy - 0.35, xx - 0.4), 0.5, 1.0)[..., None]
    orange = np.array([245.0, 140.0, 20.0]) * shade + rng.normal(0, 6, (size, size, 1))
    backdrop = rng.integers(110, 150, (size, size, 3)).astype(np.float64)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((10, 10, size - 11, size - 11), fill=255)
    inside = np.asarray(mask) > 0
    backdrop[inside] = orange[inside]
    return Image.fromarray(np.clip(backdrop, 0, 255).astype(np.uint8)), mask


def _hue(rgb: NDArray[np.float64]) -> float:
    return colorsys.rgb_to_hsv(*(rgb / 255.0))[0] * 360.0


def bench_insertion(photos: dict[str, U8]) -> list[dict[str, Any]]:
    """Hue shift and colour error of the inserted orange, per photo and blend."""
    reference, reference_mask = orange_reference()
    core = cv2.erode(np.asarray(reference_mask), np.ones((9, 9), np.uint8)) > 0
    ref_mean = np.asarray(reference, np.float64)[core].mean(axis=0)
    rows: list[dict[str, Any]] = []
    for name, photo in photos.items():
        h, w = photo.shape[:2]
        side = min(h, w) // 3
        box = (w // 2 - side // 2, h // 2 - side // 2, w // 2 + side // 2, h // 2 + side // 2)
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
        row: dict[str, Any] = {"photo": name, "reference_rgb": [round(float(v), 1) for v in ref_mean]}
        for blend in ("alpha", "poisson"):
            out = insert_object(
                Image.fromarray(photo), mask, reference, reference_mask, blend=blend, shadow_opacity=0.35
            )
            # The object lands centred in the box, standing on its bottom edge, scaled to the box.
            size = box[2] - box[0]
            placed = cv2.resize(core.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
            region = np.asarray(out, np.float64)[box[1] : box[1] + size, box[0] : box[0] + size][placed]
            mean = region.mean(axis=0)
            row[blend] = {
                "rgb": [round(float(v), 1) for v in mean],
                "hue_shift_deg": round(abs(_hue(mean) - _hue(ref_mean)), 2),
                "rgb_error": round(float(np.abs(mean - ref_mean).mean()), 2),
            }
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the three benches, print the tables, write the JSON and the grid; return the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=None, help="longer side of the photos (default: as shipped)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--placements", type=int, default=2, help="object placements per photo")
    args = parser.parse_args(argv)
    photos = {name: load_photo(name, args.size) for name in args.photos.split(",")}
    args.out.mkdir(parents=True, exist_ok=True)

    removal, grid = bench_removal(photos, args.placements)
    print("removal (inside the hole): tex = high-frequency energy / truth's (goal 0.7-1.4), coarse = blurred error")
    print(
        f"{'photo/seed':13s} {'telea tex/coarse':>17s} {'shiftmap tex/coarse':>20s} {'ours tex/coarse':>16s} {'ours s':>7s}  ok"
    )
    for row in removal:
        t, s, o = row["telea"], row["shiftmap"], row["ours"]
        print(
            f"{row['photo'] + '/' + str(row['seed']):13s} {t['tex']:8.2f}/{t['coarse']:6.1f}  {s['tex']:11.2f}/{s['coarse']:6.1f}"
            f"  {o['tex']:8.2f}/{o['coarse']:6.1f} {o['seconds']:7.2f}  {'yes' if row['pass'] else 'NO'}"
        )
    grid_path = args.out / "quality-removal.png"
    grid.save(grid_path)

    balance = bench_white_balance(photos)
    print("\nwhite balance on clipped casts: light angle error (deg) / corrected RGB error")
    print(f"{'photo':11s} {'cast':6s} {'robust':>13s} {'gray-world':>13s} {'white-patch':>13s}")
    for row in balance:
        cells = "".join(
            f" {row[m]['angle_deg']:6.1f}/{row[m]['rgb_error']:5.1f}" for m in ("robust", "gray-world", "white-patch")
        )
        print(f"{row['photo']:11s} {row['cast']:6s}{cells}")
    repro = wall_repro()
    print(f"repro: wall {tuple(repro['wall_in'])} -> {tuple(repro['wall_out'])} (cyan: {repro['cyan']})")

    insertion = bench_insertion(photos)
    print("\ninsertion colour: the orange's mean hue shift (deg) / RGB error, alpha vs poisson")
    for row in insertion:
        a, p = row["alpha"], row["poisson"]
        print(
            f"{row['photo']:11s} alpha {a['hue_shift_deg']:5.1f}/{a['rgb_error']:5.1f}"
            f"   poisson {p['hue_shift_deg']:5.1f}/{p['rgb_error']:5.1f}"
        )

    results = {
        "removal": removal,
        "white_balance": balance,
        "white_balance_repro": repro,
        "insertion": insertion,
        "grid": str(grid_path),
        "goal_met": all(row["pass"] for row in removal),
    }
    (args.out / "quality.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out / 'quality.json'} and {grid_path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
