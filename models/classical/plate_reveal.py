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
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

from models.base import Image, Mask
from models.classical.inpaint import window

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
        box = window(h | c, r_out + 1)
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
    edge: float = EDGE, least: float = LEAST,
) -> list[NDArray[np.bool_]]:
    """Per frame, the pixels of its ``characters`` mask (within ``depth`` px of its edge) that show
    the wall: colours the wall's palette (`palettes`) holds ``ratio`` times more often than the
    characters', joined (4-connected) by such pixels to the background outside ``hidden`` (what
    hides the background: the characters, text, effects), then closed by ``close`` px inside the mask;
    less the mask's outer ``edge`` px and runs under ``least`` px (both at 480 rows)."""
    hc, hb = palettes(frames, characters, hidden, interior, ring, bits)
    wall = hb > ratio * hc
    out = []
    for frame, chars, hide in zip(frames, characters, hidden, strict=True):
        c, h = np.asarray(chars, bool), np.asarray(hide, bool)
        found = np.zeros(c.shape, bool)
        box = window(c, 1 + close)
        out.append(found)
        if box is None or not wall.any():
            continue
        cb, hb_ = c[box], h[box]
        inside = cv2.distanceTransform(cb.view(np.uint8), cv2.DIST_L2, 3)
        cand = cb & (inside <= depth * c.shape[0] / 480) & wall[colour_codes(np.asarray(frame)[box], bits)]
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


def colour_codes(img: NDArray[np.uint8], bits: int = BITS) -> NDArray[np.int32]:
    """Each pixel's colour as one histogram bin: the top ``bits`` of each channel."""
    shift = 8 - bits
    return ((img[..., 0] >> shift).astype(np.int32) << (2 * bits)) | ((img[..., 1] >> shift).astype(np.int32) << bits) \
        | (img[..., 2] >> shift).astype(np.int32)


def _disc(radius: int, shape: int = cv2.MORPH_ELLIPSE) -> NDArray[np.uint8]:
    return np.asarray(cv2.getStructuringElement(shape, (2 * radius + 1, 2 * radius + 1)), np.uint8)
