"""Exemplar-based hole filling: the classic engine's default removal.

A fill made of the picture's own patches, so texture (bricks, grass, fur) continues into the hole
instead of being smoothed over:

1. **A crop around the hole** (the caller's: the classic engine keeps half the hole's size around
   it): patches come from the hole's surroundings, not from a far corner of the picture that merely
   looks alike, and a 12 MP photo costs what its hole costs.
2. **Coarse to fine.** A pyramid of the crop; at the coarsest level (the hole a few dozen pixels
   across) a structure-first exemplar fill (:func:`structure_fill`, Criminisi et al.'s order: lines
   and boundaries that run into the hole are carried across it before flat areas close it) gives
   the layout. (OpenCV contrib's shift-map, where this started, continues textures well but breaks
   structures: a rocket's body stopped at the hole; the quality bench keeps it as a baseline.) The
   layout is then refined by patch matching (PatchMatch: propagation and random search, vectorised
   over the whole hole; patches compared by their leading principal components, a few times cheaper
   than pixel by pixel) and patch voting, Wexler-style. Each finer level starts from the coarser
   one's matches scaled up, so a choice made with the whole hole in view is kept and only refined
   where the detail says so.
3. **Coarse colour from a smooth fill, detail from the patches.** Patch matching alone happily
   grows the wrong surface into a hole (a dark collar over an orange suit). The structure fill's
   matching gives the hole's Telea prefill a little weight, so a source that grows a foreign
   surface (a face onto a suit) pays for it; the finer levels' patch distance includes the distance
   to the coarsest level's result, blurred (the layout, so a structure carried across is kept), and
   where the final shading below a 4-pixel blur strays from the Telea fill by more than a few
   levels it is pulled back, the patches' texture kept (around a hole in a surface of one hue,
   bricks and mortar, only the chroma is: there the Telea fill's lightness is the smear, not the
   patches').
4. **No seam**: target patches that reach past the hole's edge must agree with the pixels there,
   so the fill meets its surroundings in colour and texture; the pixels outside the hole are never
   changed.

Work is in CIE Lab (OpenCV's 8-bit scaling), where a patch distance is closer to what the eye sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["exemplar_fill", "structure_fill"]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]

#: Patch radius (a patch is ``2 * radius + 1`` pixels a side).
_RADIUS = 3
#: The coarsest level's hole is at most this many pixels across.
_COARSEST_HOLE = 40
#: Above this hole size (pixels across) a level only carries the coarser matches up, without a search:
#: patches are still copied at full resolution, at a fraction of the cost.
_SEARCH_HOLE = 320
#: Patch-match iterations and voting rounds at the coarsest level and at the finer ones.
_COARSE_ROUNDS, _FINE_ROUNDS = 4, 3
_PM_ITERATIONS = 3
#: Blur (pixels of the level) of the coarse-colour guide, and its weight against the patch distance.
_GUIDE_SIGMA = 2.0
_GUIDE_WEIGHT = 0.03
#: Blur (pixels) below which the fill's colour follows the smooth fill rather than the patches.
_LOWPASS_SIGMA = 4.0
#: Coarse colour difference (8-bit Lab levels) the patches may keep from the smooth fill, at most
#: (less around a hole whose surroundings have little fine detail).
_LOWPASS_SLACK = 8.0
#: Principal components of a patch (of 3 * (2 * radius + 1) ** 2 values) the patch distance uses.
_FEATURES = 32
#: Exponent of the confidence in a patch's fill priority (1 is Criminisi's).
_CONFIDENCE_POWER = 0.25
#: Weight of the hole's smooth prefill against the known pixels in the structure fill's matching.
_SMOOTH_WEIGHT = 0.15
#: Around a hole in a surface of one hue, the lightness the patches may keep from the smooth fill, in
#: units of the surroundings' coarse lightness spread; the surroundings' coarse chroma spread at which
#: that allowance has fallen to 1/e; and the chroma error (8-bit Lab) past which a pixel's lightness
#: is corrected all the same.
_TONE_SPREAD = 3.0
_TONE_CHROMA = 3.0
_FOREIGN_CHROMA = 4.0


def structure_fill(image: U8, hole: Bools, radius: int = 3) -> U8:
    """``image`` (RGB, small) with ``hole`` filled patch by patch in the order of Criminisi et al.:
    where the hole's edge is most confident and a strong edge (isophote) runs into it first, so
    lines and boundaries are carried across the hole before flat areas close it. Each patch is
    copied from the best-matching wholly known patch (sum of squared Lab differences over its
    known pixels)."""
    import cv2

    size = 2 * radius + 1
    lab = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2Lab), np.float32)
    known = ~hole
    height, width = hole.shape
    kernel = np.ones((size, size), np.uint8)
    # Wholly known patches, as top-left corners of matchTemplate's result map.
    whole = cv2.erode(known.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    sources = whole[radius : height - radius, radius : width - radius]
    if not sources.any():
        return image.copy()
    confidence = known.astype(np.float32)
    grey = lab[..., 0].copy()
    for _ in range(hole.size):
        if known.all():
            break
        front = ~known & (cv2.dilate(known.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        ys, xs = np.nonzero(front)
        patch_confidence = cv2.boxFilter(confidence, -1, (size, size), normalize=True)[ys, xs]
        # Isophotes of the known picture (gradients turned by 90 degrees) against the front's normal.
        masked = np.where(known, grey, 0).astype(np.float32)
        gx = cv2.Sobel(masked, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(masked, cv2.CV_32F, 0, 1, ksize=3)
        edge = cv2.erode(known.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # gradients wholly on known pixels
        gx, gy = np.where(edge, gx, 0), np.where(edge, gy, 0)
        # Carried onto the front: the nearest such gradient is two pixels from it (a 5x5 reach).
        gx = cv2.dilate(np.abs(gx), np.ones((5, 5), np.uint8)) * np.sign(cv2.GaussianBlur(gx, (5, 5), 0))
        gy = cv2.dilate(np.abs(gy), np.ones((5, 5), np.uint8)) * np.sign(cv2.GaussianBlur(gy, (5, 5), 0))
        kf = cv2.GaussianBlur(known.astype(np.float32), (5, 5), 0)
        nx = cv2.Sobel(kf, cv2.CV_32F, 1, 0, ksize=3)[ys, xs]
        ny = cv2.Sobel(kf, cv2.CV_32F, 0, 1, ksize=3)[ys, xs]
        norm = np.hypot(nx, ny) + 1e-6
        data = np.abs(-gy[ys, xs] * nx + gx[ys, xs] * ny) / norm / 255.0 + 1e-3
        # Confidence is damped (Criminisi's product lets it decay along a long structure: a
        # rocket's body grown a few patches into the hole lost to the sky closing in around it).
        best = int(np.argmax(patch_confidence**_CONFIDENCE_POWER * data))
        cy = int(np.clip(ys[best], radius, height - radius - 1))
        cx = int(np.clip(xs[best], radius, width - radius - 1))
        window = (slice(cy - radius, cy + radius + 1), slice(cx - radius, cx + radius + 1))
        template = lab[window]
        # The hole's pixels still hold the smooth (Telea) prefill: a little weight on them makes a
        # source that would grow a foreign surface into the hole (a face onto a suit) pay for it.
        patch_weight = np.where(known[window], 1.0, _SMOOTH_WEIGHT).astype(np.float32)
        weight = np.repeat(patch_weight[..., None], 3, axis=2)
        scores = cv2.matchTemplate(lab, template, cv2.TM_SQDIFF, mask=weight)
        scores = np.where(sources, scores, np.inf)
        sy, sx = np.unravel_index(int(np.argmin(scores)), scores.shape)
        fill = ~known[window]
        lab[window][fill] = lab[sy : sy + size, sx : sx + size][fill]
        grey[window][fill] = lab[window][..., 0][fill]
        confidence[window][fill] = patch_confidence[best]
        known[window] = True
    filled = cv2.cvtColor(np.clip(np.rint(lab), 0, 255).astype(np.uint8), cv2.COLOR_Lab2RGB)
    result = image.copy()
    result[hole] = filled[hole]
    return result


class _Level:
    """One pyramid level: the padded Lab picture as a flat array, the hole and the valid sources."""

    def __init__(self, lab: F32, hole: Bools, guide: F32, search: bool = True) -> None:
        import cv2

        r = _RADIUS
        self.height, self.width = hole.shape
        self.hole = hole
        self.padded_width = self.width + 2 * r
        padded = cv2.copyMakeBorder(lab, r, r, r, r, cv2.BORDER_REFLECT)
        self.flat: F32 = np.asarray(padded, np.float32).reshape(-1, 3).copy()
        # The coarse colour each place should have: the smooth (Telea) fill, blurred, in the hole;
        # the picture, blurred alike, elsewhere. A source whose colour there differs pays for it.
        smooth = cv2.GaussianBlur(guide, (0, 0), _GUIDE_SIGMA)
        self.guide: F32 = np.asarray(cv2.copyMakeBorder(smooth, r, r, r, r, cv2.BORDER_REFLECT), np.float32).reshape(
            -1, 3
        )
        known = (~hole).astype(np.uint8)
        # A source patch lies wholly on known pixels inside the picture.
        kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
        whole = cv2.erode(known, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
        self.valid = np.zeros((self.height + 2 * r, self.padded_width), bool)
        self.valid[r:-r, r:-r] = whole
        self.valid_flat = self.valid.reshape(-1)
        self.sources = np.flatnonzero(self.valid_flat)
        ys, xs = np.nonzero(hole)
        self.ty, self.tx = ys, xs
        self.targets: I64 = (ys + r) * self.padded_width + (xs + r)
        offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
        self.offsets = np.array([dy * self.padded_width + dx for dy, dx in offsets], dtype=np.int64)
        # Projections pay off only where patches are searched (many distances a pixel).
        self.kernels = self._basis() if search else None
        self.features: F32 | None = None
        self.refresh(whole=True)

    def _basis(self) -> F32 | None:
        """Filters (component, channel, patch) onto the leading principal components of the level's
        source patches; ``None`` where there are too few sources to tell."""
        if len(self.sources) < 4 * _FEATURES:
            return None
        rng = np.random.default_rng(0)
        centres = self.sources[rng.integers(0, len(self.sources), min(len(self.sources), 4000))]
        patches = np.stack([self.flat[centres + offset] for offset in self.offsets], axis=1).reshape(len(centres), -1)
        patches = (patches - patches.mean(axis=0)).astype(np.float32)
        _, vectors = np.linalg.eigh(patches.T @ patches)
        side = 2 * _RADIUS + 1
        leading = vectors[:, ::-1][:, :_FEATURES].T.reshape(_FEATURES, side, side, 3)
        return np.ascontiguousarray(leading.transpose(0, 3, 1, 2), np.float32)

    def refresh(self, whole: bool = False) -> None:
        """Project the patches onto the basis: all of them, or (after a vote changed the hole's
        pixels; the sources' patches lie wholly outside it) those centred in the hole."""
        import cv2

        if self.kernels is None:
            return
        r = _RADIUS
        image = self.flat.reshape(self.height + 2 * r, self.padded_width, 3)
        ty, tx = self.ty + r, self.tx + r
        top, left = (0, 0) if whole else (max(0, int(ty.min()) - 2 * r), max(0, int(tx.min()) - 2 * r))
        bottom, right = image.shape[:2] if whole else (int(ty.max()) + 2 * r + 1, int(tx.max()) + 2 * r + 1)
        part = image[top:bottom, left:right]
        channels = [np.ascontiguousarray(part[..., c]) for c in range(3)]
        # filter2D correlates: its kernel's (y, x) weighs the pixel at offset (y - r, x - r).
        responses = np.stack(
            [sum(cv2.filter2D(ch, cv2.CV_32F, kernel[c]) for c, ch in enumerate(channels)) for kernel in self.kernels],
            axis=-1,
        ).astype(np.float32)
        if whole:
            self.features = responses.reshape(-1, len(self.kernels))
        elif self.features is not None:
            self.features[self.targets] = responses[ty - top, tx - left]

    def distance(self, targets: I64, sources: I64) -> F32:
        """Sum of squared Lab differences between the patches centred at ``targets`` and ``sources``
        (in the patches' leading principal components: nearly all of it, at a fraction of the cost)."""
        diff = self.guide[targets] - self.guide[sources]
        total: F32 = (_GUIDE_WEIGHT * len(self.offsets)) * np.einsum("ij,ij->i", diff, diff)
        if self.features is not None:
            diff = self.features[targets] - self.features[sources]
            total += np.einsum("ij,ij->i", diff, diff)
            return total
        for offset in self.offsets:
            diff = self.flat[targets + offset] - self.flat[sources + offset]
            total += np.einsum("ij,ij->i", diff, diff)
        return total

    def random_sources(self, count: int, rng: np.random.Generator) -> I64:
        """``count`` valid source centres drawn uniformly."""
        return self.sources[rng.integers(0, len(self.sources), count)]


def _patch_match(level: _Level, nnf: I64, rng: np.random.Generator, iterations: int) -> tuple[I64, F32]:
    """Improve the match ``nnf`` (a source centre per hole pixel) by propagation and random search."""
    targets = level.targets
    dist = level.distance(targets, nnf)
    dense = np.full(level.valid_flat.shape, -1, np.int64)
    pw = level.padded_width
    span = max(level.height, level.width)
    for iteration in range(iterations):
        dense[targets] = nnf
        steps = (1, pw, -1, -pw) if iteration % 2 == 0 else (-1, -pw, 1, pw)
        for step in steps:
            # A neighbour matched at s suggests s minus the step for this pixel (coherent patches).
            neighbour = dense[targets + step]
            candidate = neighbour - step
            ok = neighbour >= 0
            ok[ok] = level.valid_flat[candidate[ok]]
            if ok.any():
                d = level.distance(targets[ok], candidate[ok])
                better = d < dist[ok]
                index = np.flatnonzero(ok)[better]
                nnf[index], dist[index] = candidate[ok][better], d[better]
                dense[targets[index]] = nnf[index]
        radius = span
        while radius >= 1:
            sy, sx = np.divmod(nnf, pw)
            cy = np.clip(sy + rng.integers(-radius, radius + 1, len(nnf)), 0, level.height + 2 * _RADIUS - 1)
            cx = np.clip(sx + rng.integers(-radius, radius + 1, len(nnf)), 0, pw - 1)
            candidate = cy * pw + cx
            ok = level.valid_flat[candidate]
            if ok.any():
                d = level.distance(targets[ok], candidate[ok])
                better = d < dist[ok]
                index = np.flatnonzero(ok)[better]
                nnf[index], dist[index] = candidate[ok][better], d[better]
            radius //= 2
    return nnf, dist


def _vote(level: _Level, nnf: I64, dist: F32) -> None:
    """Set every hole pixel to the weighted mean of the matched patches covering it (in place)."""
    dense = np.full(level.valid_flat.shape, -1, np.int64)
    weight_dense = np.zeros(level.valid_flat.shape, np.float32)
    dense[level.targets] = nnf
    # Good matches count far more, nearly winner-takes-all: an even mean of the many overlapping
    # patches softens the texture the patches carry. The scale adapts to the level's typical match
    # (a tenth of the median). The weight is a power of a Cauchy one, not a Gaussian: a pixel
    # covered only by poor matches must still get their mean, not underflow; the floor (about three
    # Lab levels a pixel) keeps exact copies (distance 0) from making every other match weightless.
    scale = 0.1 * max(float(np.median(dist)), 10.0 * len(level.offsets))
    # (The ratio is clamped so that even the worst weight, 1e-24, stays far above float32's floor.)
    weight_dense[level.targets] = 1.0 / (1.0 + np.minimum(dist / scale, 1e3)) ** 8
    total = np.zeros((len(nnf), 3), np.float32)
    weights = np.zeros(len(nnf), np.float32)
    for offset in level.offsets:
        # The patch centred at p - offset covers p at its own offset.
        centre = level.targets - offset
        source = dense[centre]
        ok = source >= 0
        w = weight_dense[centre[ok]]
        total[ok] += level.flat[source[ok] + offset] * w[:, None]
        weights[ok] += w
    level.flat[level.targets] = total / np.maximum(weights, 1e-30)[:, None]
    level.refresh()


def _upsample(coarse: _Level, coarse_nnf: I64, fine: _Level, rng: np.random.Generator) -> I64:
    """The fine level's matches from the coarse level's: each pixel takes its parent's source,
    doubled, plus its own position within the parent."""
    r, cpw, fpw = _RADIUS, coarse.padded_width, fine.padded_width
    parent = np.full((coarse.height, coarse.width), -1, np.int64)
    parent[coarse.ty, coarse.tx] = coarse_nnf
    py = np.minimum(fine.ty // 2, coarse.height - 1)
    px = np.minimum(fine.tx // 2, coarse.width - 1)
    source = parent[py, px]
    sy, sx = np.divmod(np.maximum(source, 0), cpw)
    fy = 2 * (sy - r) + fine.ty % 2 + r
    fx = 2 * (sx - r) + fine.tx % 2 + r
    inside = (source >= 0) & (fy >= 0) & (fy < fine.height + 2 * r) & (fx >= 0) & (fx < fpw)
    candidate = np.where(inside, fy * fpw + fx, 0)
    ok = inside & fine.valid_flat[candidate]
    nnf = fine.random_sources(len(fine.targets), rng)
    nnf[ok] = candidate[ok]
    return nnf


def _nothing() -> None:
    pass


def _lab(rgb: U8) -> F32:
    import cv2

    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), np.float32)


def _tone_slack(known: F32, hole: Bools, correction: NDArray[np.floating[Any]], sigma: float) -> F32:
    """The lightness error (per pixel, 8-bit Lab) the patches may keep from the smooth fill: large
    around a hole in a surface of one hue whose lightness varies at the coarse scale (bricks and
    mortar, gravel), nothing where the surroundings hold several hues or the pixel's chroma is off.

    There a lightness difference is the texture's own layout, which the smooth fill smeared (mortar
    lines into a grey star; pulled back, the bricks got a bright, boxy patch), not a foreign surface;
    a foreign surface (a white badge onto an orange suit) shows in the chroma as well."""
    import cv2

    outside = (~hole).astype(np.float32)
    weight = cv2.GaussianBlur(outside, (0, 0), sigma)[..., None]
    coarse = cv2.GaussianBlur(known * outside[..., None], (0, 0), sigma) / np.maximum(weight, 1e-6)
    around = (cv2.dilate(hole.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0) & ~hole
    if not around.any():
        return np.zeros(hole.shape, np.float32)
    spread = coarse[around].std(axis=0)
    one_hue = float(np.exp(-((np.hypot(spread[1], spread[2]) / _TONE_CHROMA) ** 2)))
    chroma_error = np.hypot(correction[..., 1], correction[..., 2])
    same_surface = np.exp(-((chroma_error / _FOREIGN_CHROMA) ** 2))
    return np.asarray(_TONE_SPREAD * float(spread[0]) * one_hue * same_surface, np.float32)


def exemplar_fill(image: U8, hole: Bools, *, seed: int = 0, check: Callable[[], None] | None = None) -> U8:
    """``image`` (RGB, the crop to work on) with ``hole`` filled from the picture's own patches;
    pixels outside ``hole`` are returned unchanged. ``check`` is called between rounds (it raises to
    stop a cancelled run)."""
    checkpoint = check if check is not None else _nothing
    import cv2

    if not hole.any():
        return image.copy()
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(hole)
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    # Telea first: the pyramid's blur must not carry the removed object's colour into the levels.
    prefilled = np.asarray(cv2.inpaint(image, hole.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA), np.uint8)
    images, holes = [prefilled], [hole]
    while extent / 2 ** (len(images) - 1) > _COARSEST_HOLE and min(images[-1].shape[:2]) >= 8 * (2 * _RADIUS + 1):
        images.append(np.asarray(cv2.pyrDown(images[-1]), np.uint8))
        h, w = images[-1].shape[:2]
        previous = holes[-1].astype(np.uint8)
        down = cv2.resize(previous, (w, h), interpolation=cv2.INTER_AREA) > 0
        holes.append(cv2.dilate(down.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)

    # The coarsest level: structure first, then refined.
    coarsest_rgb = structure_fill(images[-1], holes[-1])
    level = _Level(_lab(coarsest_rgb), holes[-1], _lab(images[-1]))
    if len(level.sources) == 0:
        return prefilled
    nnf = level.random_sources(len(level.targets), rng)
    nnf, dist = _patch_match(level, nnf, rng, 2 * _PM_ITERATIONS)
    for _ in range(_COARSE_ROUNDS):
        checkpoint()
        _vote(level, nnf, dist)
        nnf, dist = _patch_match(level, nnf, rng, _PM_ITERATIONS)
    # The finer levels' coarse-colour guide is this level's result (the layout, structures carried
    # across), not the smooth fill: guided by Telea, they bled a rocket's body into the sky again.
    r = _RADIUS
    layout = level.flat.reshape(level.height + 2 * r, level.padded_width, 3)[r:-r, r:-r].copy()

    for index in range(len(images) - 2, -1, -1):
        own = _lab(images[index])
        height, width = holes[index].shape
        upscaled = cv2.resize(layout, (width, height), interpolation=cv2.INTER_LINEAR)
        guide: F32 = np.where(holes[index][..., None], upscaled, own).astype(np.float32)
        search = extent / 2**index <= _SEARCH_HOLE
        fine = _Level(own, holes[index], guide, search)
        if len(fine.sources) == 0:
            break
        nnf = _upsample(level, nnf, fine, rng)
        level = fine
        dist = level.distance(level.targets, nnf)
        _vote(level, nnf, dist)
        if search:
            for _ in range(_FINE_ROUNDS):
                checkpoint()
                nnf, dist = _patch_match(level, nnf, rng, _PM_ITERATIONS)
                _vote(level, nnf, dist)

    lab = level.flat.reshape(level.height + 2 * r, level.padded_width, 3)[r:-r, r:-r]
    # Where the patches chose a source of the wrong shade, the shade is corrected and the texture kept
    # (blurs normalised over the hole, so the known pixels around it do not leak in).
    sigma = _LOWPASS_SIGMA
    if sigma > 0:
        weight = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), sigma)[..., None]
        ours = cv2.GaussianBlur(lab * hole[..., None], (0, 0), sigma) / np.maximum(weight, 1e-6)
        guide = _lab(prefilled)
        smooth = cv2.GaussianBlur(guide * hole[..., None], (0, 0), sigma) / np.maximum(weight, 1e-6)
        correction = smooth - ours
        # Only a gross shade error is corrected (soft threshold): where the patches' coarse colour is
        # near the smooth fill's, theirs is as likely right (a brick's mortar line the fill smeared).
        # On a smooth surface there is no texture to excuse a shade error: the slack scales with how
        # much fine detail the hole's surroundings have.
        known = _lab(image)
        ring = (cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~hole
        detail = float(np.abs(known - cv2.GaussianBlur(known, (0, 0), 2.0))[ring].mean()) if ring.any() else 0.0
        slack = np.full(correction.shape, min(_LOWPASS_SLACK, 2.0 * detail), np.float32)
        slack[..., 0] = np.maximum(slack[..., 0], _tone_slack(known, hole, correction, sigma))
        correction = np.sign(correction) * np.maximum(np.abs(correction) - slack, 0.0)
        lab = lab + np.where(hole[..., None], correction, 0.0).astype(np.float32)
    filled = cv2.cvtColor(np.clip(np.rint(lab), 0, 255).astype(np.uint8), cv2.COLOR_Lab2RGB)
    result = image.copy()
    result[hole] = filled[hole]
    return result
