"""Background a source frame's character mask covers although the frame shows it, for the clean plate.

Stage-1 masks lag a character that turned or moved: the mask keeps the old silhouette, 10-35 px of
textured wall, and the matte follows the mask there. Every frame that reveals such wall may hide it
so, and the plate then invents it. A character is drawn in its own colours (flat fills, shading,
line art); the wall behind it in others. The shot's frames give both palettes: the character's from
its masks' interiors, the wall's from the ring just outside its masks. A pixel within `DEPTH` of a
mask's edge whose colour the wall's palette holds far more often than the character's, joined to
the outside by such pixels (grown inward from the edge while the colour agrees), is background the
frame reveals: as a stitching source the frame lends it (`ClassicalInpainter.stitch`'s ``clear``).
The character's outline, in its palette, stops the growth.

Where the wall shares colours with the cast (a background character's jacket in the cast's red), the
palettes alone are too close to tell. There the drawing itself tells: a mask carried onto a frame
where the character turned away keeps covering the place, but the frame there no longer shows what
the other frames whose masks hold the place show (`changed_under_masks`). A colour the wall's palette
holds `WEAK_RATIO` times more often than the characters' counts as wall where the drawing changed so.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

from models.base import Image, Mask
from models.classical.geometry import Matrix
from models.classical.morphology import grown_box
from models.classical.plate import warp_pixels

BITS = 6  # colour bits per channel of the palettes' histograms (5: twice the character pixels lent)
INTERIOR = 8  # px at 480 rows: a mask's pixels this deep are the character's palette
RING = 24  # px at 480 rows: the wall's palette is read this far outside the masks
DEPTH = 80  # px at 480 rows: how deep into a mask background is looked for
RATIO = 4.0  # the wall's palette holds the colour this many times more often than the character's
# The found pixels closed (radius in px): a textured wall has pixels of ambiguous colour, and each
# one left under the mask would keep the 3x3 round it from the stitch (`inpaint._seen`'s ring).
CLOSE = 1
# Not lent (px at 480 rows): the mask's outer `EDGE` (a tight mask's ring there is the outline's
# anti-aliased blend, which pasted into other plates drew the character's silhouette on onepiece),
# nor a run under `LEAST` px (specks of wall-like colour inside a character).
EDGE = 2.5
LEAST = 30
# A colour the wall's palette holds this many times more often than the characters' is wall where the
# drawing changed (`changed_under_masks`): on the five layer-quality tuning seeds such colours not lent
# by `RATIO` are wall on 10-63 % of the mask pixels within 35 px of its edge; where the drawing changed
# too and the pixel joins the outside, on 16-91 % (docs/results.md, round 17).
WEAK_RATIO = 2.0
# Levels (largest channel) by which a frame differs from the other frames' drawing at a place.
CHANGED = 40


def palettes(
    frames: Sequence[Image], characters: Sequence[Mask], hidden: Sequence[Mask], interior: float = INTERIOR,
    ring: float = RING, bits: int = BITS,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The characters' and the wall's colour frequencies over the frames: histograms of ``bits``
    per channel of the characters' masks ``interior`` px deep and of the ring ``ring`` px outside
    what hides the background, each smoothed over the neighbouring bins and summing to 1 (zero
    where nothing was counted)."""
    bins = 1 << bits
    hc = np.zeros(bins**3, np.float64)
    hb = np.zeros(bins**3, np.float64)
    for frame, chars, hide in zip(frames, characters, hidden, strict=True):
        c, h = np.asarray(chars, bool), np.asarray(hide, bool)
        scale = c.shape[0] / 480
        r_in, r_out = max(1, round(interior * scale)), max(1, round(ring * scale))
        box = grown_box(h | c, r_out + 1)
        if box is None or not c.any():
            continue
        code = colour_codes(np.asarray(frame)[box], bits)
        core = cv2.erode(c[box].view(np.uint8), _disc(r_in)) > 0
        hc += np.bincount(code[core], minlength=bins**3)
        near = cv2.dilate(h[box].view(np.uint8), _disc(r_out)) > 0
        hb += np.bincount(code[near & ~h[box]], minlength=bins**3)
    out = []
    for hist in (hc, hb):
        smooth = uniform_filter(hist.reshape(bins, bins, bins), size=3, mode="constant").reshape(-1)
        total = smooth.sum()
        out.append(smooth / total if total > 0 else smooth)
    return out[0], out[1]


def revealed_under_masks(
    frames: Sequence[Image], characters: Sequence[Mask], hidden: Sequence[Mask], depth: float = DEPTH,
    ratio: float = RATIO, interior: float = INTERIOR, ring: float = RING, bits: int = BITS, close: int = CLOSE,
    edge: float = EDGE, least: float = LEAST, transforms: Sequence[Matrix] | None = None,
    weak_ratio: float = WEAK_RATIO,
) -> list[NDArray[np.bool_]]:
    """Per frame, the pixels of its ``characters`` mask (within ``depth`` px of its edge) that show
    the wall: colours the wall's palette (`palettes`) holds ``ratio`` times more often than the
    characters' - or, with the shot's camera (``transforms``, frame -> plate), ``weak_ratio`` times
    where the drawing changed (`changed_under_masks`) - joined (4-connected) by such pixels to the
    background outside ``hidden`` (what hides the background: the characters, text, effects), then
    closed by ``close`` px inside the mask; less the mask's outer ``edge`` px and runs under ``least``
    px (both at 480 rows)."""
    hc, hb = palettes(frames, characters, hidden, interior, ring, bits)
    wall = hb > ratio * hc
    weak = hb > weak_ratio * hc if transforms is not None else wall
    masks = [np.asarray(c, bool) for c in characters]
    out = []
    for k, (frame, c, hide) in enumerate(zip(frames, masks, hidden, strict=True)):
        h = np.asarray(hide, bool)
        found = np.zeros(c.shape, bool)
        box = grown_box(c, 1 + close)
        out.append(found)
        if box is None or not weak.any():
            continue
        cb, hb_ = c[box], h[box]
        inside = cv2.distanceTransform(cb.view(np.uint8), cv2.DIST_L2, 3)
        codes = colour_codes(np.asarray(frame)[box], bits)
        near = cb & (inside <= depth * c.shape[0] / 480)
        cand = near & wall[codes]
        if transforms is not None:
            maybe = np.zeros(c.shape, bool)
            maybe[box] = near & weak[codes] & ~cand
            cand |= changed_under_masks(frames, masks, transforms, k, maybe)[box]
        n, labels = cv2.connectedComponents((cand | ~hb_).view(np.uint8), connectivity=4)
        good = np.zeros(n, bool)
        good[labels[~hb_]] = True
        good[0] = False
        got = cand & good[labels]
        if close > 0 and got.any():
            got = (cv2.morphologyEx(got.view(np.uint8), cv2.MORPH_CLOSE, _disc(close, cv2.MORPH_RECT)) > 0) & cb
        if edge > 0:
            got &= inside > edge * c.shape[0] / 480
        if least > 0 and got.any():
            n, labels = cv2.connectedComponents(got.view(np.uint8), connectivity=8)
            big = np.bincount(labels.reshape(-1), minlength=n) >= least * (c.shape[0] / 480) ** 2
            big[0] = False
            got = big[labels]
        found[box] = got
    return out


def changed_under_masks(
    frames: Sequence[Image], characters: Sequence[Mask], transforms: Sequence[Matrix], k: int, at: Mask,
    levels: float = CHANGED,
) -> NDArray[np.bool_]:
    """The pixels of ``at`` where frame ``k`` differs by more than ``levels`` (largest channel) from
    the median of the other frames whose ``characters`` masks hold the place (through the camera,
    ``transforms``: frame -> plate): the drawing the mask was carried from is no longer there."""
    out = np.zeros(np.shape(at), bool)
    ys, xs = np.nonzero(at)
    if len(ys) == 0 or len(frames) < 2:
        return out
    t_k = np.asarray(transforms[k], np.float64)
    seen, held = [], []
    for j, (frame, chars) in enumerate(zip(frames, characters, strict=True)):
        if j == k:
            continue
        m = (np.linalg.inv(np.asarray(transforms[j], np.float64)) @ t_k)[:2]
        seen.append(warp_pixels(np.asarray(frame), m, ys, xs).astype(np.float32))
        held.append(warp_pixels(np.asarray(chars, np.uint8), m, ys, xs, cubic=False) > 0)
    ok = np.stack(held)
    drawn = np.where(ok[..., None], np.stack(seen), np.nan)
    anywhere = ok.any(axis=0)
    median = np.nanmedian(drawn[:, anywhere], axis=0)
    own = np.asarray(frames[k])[ys[anywhere], xs[anywhere]].astype(np.float32)
    differs = np.abs(own - median).max(axis=1) > levels
    out[ys[anywhere][differs], xs[anywhere][differs]] = True
    return out


def colour_codes(img: NDArray[np.uint8], bits: int = BITS) -> NDArray[np.int32]:
    """Each pixel's colour as one histogram bin: the top ``bits`` of each channel."""
    shift = 8 - bits
    return ((img[..., 0] >> shift).astype(np.int32) << (2 * bits)) | ((img[..., 1] >> shift).astype(np.int32) << bits) \
        | (img[..., 2] >> shift).astype(np.int32)


def _disc(radius: int, shape: int = cv2.MORPH_ELLIPSE) -> NDArray[np.uint8]:
    return np.asarray(cv2.getStructuringElement(shape, (2 * radius + 1, 2 * radius + 1)), np.uint8)
