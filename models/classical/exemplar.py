"""Exemplar fill: invent a hole's pixels by copying patches of the picture around it.

What no frame of a shot shows must be invented. Anime backgrounds are flat colour fills separated by
line art, with gradients in skies and repeated texture, and a diffusion fill (Telea) turns a large hole
in them into a smooth blur that matches none of it. Here each hole pixel instead copies a pixel of the
known background whose surroundings look like its own (a nearest-neighbour field found with
PatchMatch, Barnes et al. 2009), solved coarse to fine (Wexler et al. 2007): at the coarsest level the
hole is a few pixels across and the search settles the layout (which fill continues where, where a
line runs); each finer level starts from the field of the level below, so fills keep their edges.
Inside the hole a 3x3 median and a bilateral filter then clear specks and smooth flat fills, and a
2 px diffused ring hides the seam with the frame.

Cost: the search runs on the levels with at most `SEARCH_PIXELS` hole pixels; finer levels carry the
field up, copy (one gather per pixel) and search only the band along the hole's border, so a 1080p
hole costs a little more than a Telea fill (`benchmarks/spatial_fill.py`). Everything is vectorised
over the hole's pixels; the random search is seeded, so the fill is deterministic. The weak part is
the layout of large holes: fine line art inside them comes out as short dashes (the finest levels
are not searched), and a region may spread where the truth has another (docs/results.md, round 5).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask

PATCH_RADIUS = 3  # 7x7 patches
SEARCH_PIXELS = 8_000  # hole pixels up to which a level is searched (above: the field is carried up)
COARSEST = 8  # the coarsest level: the hole is at most this many pixels from its border
EM_ITERATIONS = 3  # search + copy rounds per searched level
SEARCH_ROUNDS = 2  # PatchMatch rounds (propagation + random search) per EM iteration
MIN_SOURCES = 64  # whole patches a level needs to be searched
SPECK_MEDIAN = 3  # median inside the hole: removes specks where two copied pieces meet (keeps 2 px lines)
FLAT_SIGMA = 30.0  # bilateral range sigma (levels): smooths inside flat fills, not across their edges
BAND_ROUNDS = 2  # on levels too large to search whole: search rounds over the band along the border
SEAM_WIDTH = 2.0  # pixels inside the hole's border re-filled by diffusion between the copy and the frame
Coords = NDArray[np.int32]  # (N, 2) rows, cols


def exemplar_fill(image: Image, hole: Mask) -> Image:
    """``image`` with the pixels of ``hole`` copied from the rest of the picture (uint8 RGB)."""
    out = np.array(image, np.uint8, copy=True)
    hole = np.asarray(hole, bool)
    x, y, w, h = cv2.boundingRect(hole.view(np.uint8))
    if w == 0 or h == 0:
        return out
    # The hole's box and a context margin around it: where the copied patches come from.
    margin = max(24, max(w, h) // 4)
    rows, cols = hole.shape
    box = (slice(max(0, y - margin), min(rows, y + h + margin)), slice(max(0, x - margin), min(cols, x + w + margin)))
    crop = out[box].astype(np.float32)
    known = ~hole[box]
    if known.sum() < (2 * PATCH_RADIUS + 1) ** 2:
        return out  # nothing to copy from: leave the pixels as they are
    filled = np.clip(_fill(crop, known) + 0.5, 0, 255).astype(np.uint8)
    # Copied pieces leave specks and jagged steps where two sources meet: a small median inside the
    # hole removes them, then a bilateral filter smooths inside flat fills (not across their edges).
    smooth = cv2.bilateralFilter(cv2.medianBlur(filled, SPECK_MEDIAN), 9, FLAT_SIGMA, 5)
    filled = np.where(known[..., None], filled, smooth)
    # Along the border a copied pixel meets the frame's own: a thin diffused ring hides the seam
    # (and the soft fringe pixels no source gave, whose truth is the neighbouring background).
    ring = ~known & (cv2.distanceTransform((~known).view(np.uint8), cv2.DIST_L2, 3) <= SEAM_WIDTH)
    filled = cv2.inpaint(filled, ring.view(np.uint8), 3, cv2.INPAINT_TELEA)
    out[box] = filled
    return out


def _fill(image: NDArray[np.float32], known: NDArray[np.bool_]) -> NDArray[np.float32]:
    """The coarse-to-fine solve over one crop (float32 RGB, ``known`` False in the hole)."""
    pyramid = [(image, known)]
    while True:
        img, kn = pyramid[-1]
        if min(kn.shape) < 4 * (2 * PATCH_RADIUS + 1) or _depth(kn) <= COARSEST:
            break
        smaller = _down(img, kn)
        if _sources(smaller[1]).sum() < MIN_SOURCES:
            break  # the context would be too thin at that size to copy from
        pyramid.append(smaller)
    rng = np.random.default_rng(0)
    img, kn = pyramid[-1]
    img = img.copy()
    hole = ~kn
    # The coarsest start: each hole pixel takes its nearest known pixel (every fill around the hole
    # continues into it as far as it is the nearest; a diffusion guess mixes them into a colour no
    # fill has), then a random field that the search improves.
    nearest_y, nearest_x = _nearest(kn)
    img[hole] = img[nearest_y[hole], nearest_x[hole]]
    valid = _sources(kn)
    if not valid.any():
        # No patch of the context is whole: the diffusion guess at full size.
        full = np.clip(pyramid[0][0] + 0.5, 0, 255).astype(np.uint8)
        return cv2.inpaint(full, (~pyramid[0][1]).view(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32)
    pts = np.argwhere(hole).astype(np.int32)
    vy, vx = np.nonzero(valid)
    pick = rng.integers(0, len(vy), len(pts))
    src = np.stack([vy[pick], vx[pick]], axis=1).astype(np.int32)
    for level in range(len(pyramid) - 1, -1, -1):
        if level < len(pyramid) - 1:
            img, kn = pyramid[level]
            img = img.copy()
            hole = ~kn
            valid = _sources(kn)
            if not valid.any():
                valid = kn.copy()
            fine = np.argwhere(hole).astype(np.int32)
            # A fine pixel starts from its coarse pixel's source, scaled up, plus its own place in the block.
            coarse_at = _index(~pyramid[level + 1][1])
            k = coarse_at[fine[:, 0] // 2, fine[:, 1] // 2]
            src = _nearest_valid(2 * src[k] + (fine % 2), valid)
            pts = fine
            img[pts[:, 0], pts[:, 1]] = img[src[:, 0], src[:, 1]]
        if len(pts) <= SEARCH_PIXELS:
            for _ in range(EM_ITERATIONS):
                for _ in range(SEARCH_ROUNDS):
                    src = _search(img, hole, valid, pts, src, rng)
                img[pts[:, 0], pts[:, 1]] = img[src[:, 0], src[:, 1]]
        elif BAND_ROUNDS:
            # Too many pixels to search them all: search the band along the hole's border, whose
            # patches hold known pixels (the seam); the inside keeps the field carried up.
            band = hole & (cv2.distanceTransform(hole.view(np.uint8), cv2.DIST_L2, 3) <= 2 * PATCH_RADIUS)
            inb = band[pts[:, 0], pts[:, 1]]
            bpts, bsrc = pts[inb], src[inb]
            for _ in range(BAND_ROUNDS):
                bsrc = _search(img, band, valid, bpts, bsrc, rng)
                img[bpts[:, 0], bpts[:, 1]] = img[bsrc[:, 0], bsrc[:, 1]]
            src[inb] = bsrc
        pyramid[level] = (img, kn)
    return pyramid[0][0]


def _depth(known: NDArray[np.bool_]) -> float:
    """How far the deepest hole pixel is from a known one."""
    return float(cv2.distanceTransform((~known).view(np.uint8), cv2.DIST_L2, 3).max())


def _down(image: NDArray[np.float32], known: NDArray[np.bool_]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Half size by 2x2 blocks: the mean of each block's known pixels; a block with any hole pixel is hole."""
    h, w = known.shape
    ph, pw = h + h % 2, w + w % 2
    img = np.pad(image * known[..., None], ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    kn = np.pad(known, ((0, ph - h), (0, pw - w)), mode="edge").astype(np.float32)
    total = img.reshape(ph // 2, 2, pw // 2, 2, 3).sum(axis=(1, 3))
    count = kn.reshape(ph // 2, 2, pw // 2, 2).sum(axis=(1, 3))
    small = (total / np.maximum(count, 1.0)[..., None]).astype(np.float32)
    return small, count >= 4


def _sources(known: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels whose whole patch is known and inside the image: where a copied patch may come from."""
    r = PATCH_RADIUS
    whole = cv2.erode(known.view(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8), borderValue=0) > 0
    return np.asarray(whole)


def _index(mask: NDArray[np.bool_]) -> NDArray[np.int32]:
    """Each pixel of ``mask``'s position in ``np.argwhere(mask)`` (-1 elsewhere)."""
    at = np.full(mask.shape, -1, np.int32)
    at[mask] = np.arange(int(mask.sum()), dtype=np.int32)
    return at


def _nearest(mask: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Per pixel, the row and column of the nearest pixel of ``mask`` (which must not be empty)."""
    _, labels = cv2.distanceTransformWithLabels((~mask).view(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(mask)  # raster order, the order the labels are numbered in
    at = labels - 1
    return ys[at], xs[at]


def _nearest_valid(src: Coords, valid: NDArray[np.bool_]) -> Coords:
    """``src`` clipped into the image and moved to the nearest valid source pixel."""
    h, w = valid.shape
    y: NDArray[np.intp] = np.clip(src[:, 0], 0, h - 1).astype(np.intp)
    x: NDArray[np.intp] = np.clip(src[:, 1], 0, w - 1).astype(np.intp)
    if not valid[y, x].all():
        ny, nx = _nearest(valid)
        y, x = ny[y, x], nx[y, x]
    return np.stack([y, x], axis=1).astype(np.int32)


def _search(
    img: NDArray[np.float32], hole: NDArray[np.bool_], valid: NDArray[np.bool_], pts: Coords, src: Coords,
    rng: np.random.Generator,
) -> Coords:
    """One PatchMatch round over every hole pixel at once: neighbours' sources shifted by the step
    between them (near and far neighbours), then random candidates at shrinking radii."""
    r = PATCH_RADIUS
    h, w = hole.shape
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge").reshape(-1, 3)
    wp = w + 2 * r
    # The patch sampled every other pixel (and its centre): its extent at a third of the taps.
    ring = range(-r, r + 1, 2)
    taps = np.array([0] + [dy * wp + dx for dy in ring for dx in ring], np.int64)
    at_t = (pts[:, 0].astype(np.int64) + r) * wp + pts[:, 1] + r
    target = pad[at_t[:, None] + taps]  # the hole pixels' patches: fixed through the round

    def cost(s: Coords) -> NDArray[np.float32]:
        at_s = (s[:, 0].astype(np.int64) + r) * wp + s[:, 1] + r
        d = pad[at_s[:, None] + taps] - target
        return np.asarray(np.einsum("ntc,ntc->n", d, d), np.float32)

    best = cost(src)
    index = _index(hole)

    def offer(cand: Coords) -> None:
        nonlocal src, best
        ok = (cand[:, 0] >= 0) & (cand[:, 0] < h) & (cand[:, 1] >= 0) & (cand[:, 1] < w)
        cy, cx = np.where(ok, cand[:, 0], 0), np.where(ok, cand[:, 1], 0)
        ok &= valid[cy, cx]
        if not ok.any():
            return
        c = np.where(ok[:, None], cand, src)
        d = cost(c)
        better = ok & (d < best)
        src = np.where(better[:, None], c, src).astype(np.int32)
        best = np.where(better, d, best)

    for step in (1, 4):
        for dy, dx in ((0, step), (0, -step), (step, 0), (-step, 0)):
            ny, nx = pts[:, 0] + dy, pts[:, 1] + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            k = np.where(inside, index[np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)], -1)
            cand = np.where((k >= 0)[:, None], src[np.maximum(k, 0)] - np.array([dy, dx], np.int32), -1)
            offer(cand.astype(np.int32))
    radius = max(h, w)
    while radius >= 2:
        jitter = rng.integers(-radius, radius + 1, size=src.shape).astype(np.int32)
        offer(src + jitter)
        radius //= 4
    return src
