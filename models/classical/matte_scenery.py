"""Scenery the character mask took in beside a character, in colours the character itself never has.

A segment mask can run off a character onto a textured background with no outline between them
(konobi: the blurred trees between her hair tips and her collar, in every frame's mask; where no
frame shows the background there the matte kept them, a green fringe on her cut-out). Those pixels
have the colours of the background just outside the mask and none of the colours deep inside the
character. `scenery_in_mask` finds them near the mask's edge: colours (8 levels a channel, coarse
enough for a blurred texture) absent from the mask's core and present in the ring just outside it
(where the outside is wide: an eye, a line or a channel the mask left open is the character's),
in runs joined to the outside of at least `MIN_AREA` squared bands that reach `MIN_DEPTH` bands into the
mask (a mask running a few pixels past the art all along its edge is the feather's, or the outline
cut's, to judge).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask

CORE = 3  # bands: the mask eroded this far is the character's own colours
RING = 2  # bands: the outside within this of the mask is the background beside it ...
OPEN = 2  # bands: ... where the outside is at least twice this wide (not an eye or a line the mask left out)
CORE_SHARE = 0.002  # a colour holding at most this share of the core is none of the character's
RING_SHARE = 0.002  # ... and one holding at least this share of the ring is the background's
MIN_AREA = 4.0  # squared bands: smaller runs are the edge's antialiasing, left to the feather
MIN_DEPTH = 1.5  # bands: a run reaching no further into the mask (a few pixels past a soft edge) is left to the feather


def coarse_colour(image: Image) -> NDArray[Any]:
    """Each pixel's colour as one of 512 bins (the top 3 bits of each channel)."""
    q = (np.asarray(image, np.uint8) >> 5).astype(np.int32)
    return (q[..., 0] * 8 + q[..., 1]) * 8 + q[..., 2]


def scenery_in_mask(image: Image, mask: Mask, exterior: Mask, band: int) -> Mask:
    """The pixels of ``mask`` within `CORE` bands of its edge that are background taken in: in colours
    absent from the mask's core and present in the ``exterior`` ring beside it, in runs that touch the
    ``exterior``, hold at least `MIN_AREA` squared ``band`` and reach `MIN_DEPTH` bands from the outside."""
    m8 = np.asarray(mask, np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    core = cv2.erode(m8, disc, iterations=CORE) > 0
    wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * OPEN * band + 1, 2 * OPEN * band + 1))
    outside = cv2.morphologyEx(np.asarray(exterior, np.uint8), cv2.MORPH_OPEN, wide) > 0
    ring = outside & (cv2.dilate(m8, disc, iterations=RING) > 0) & ~mask
    if not core.any() or not ring.any():
        return np.zeros(mask.shape, bool)
    code = coarse_colour(image)
    in_core = np.bincount(code[core], minlength=512) / int(core.sum())
    in_ring = np.bincount(code[ring], minlength=512) / int(ring.sum())
    foreign = np.asarray(mask, bool) & ~core & (in_core[code] <= CORE_SHARE) & (in_ring[code] >= RING_SHARE)
    foreign = cv2.morphologyEx(foreign.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    n, runs, stats, _ = cv2.connectedComponentsWithStats(foreign.astype(np.uint8), connectivity=8)
    if n <= 1:
        return foreign
    beside = cv2.dilate(ring.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    keep = np.zeros(n, bool)
    keep[np.unique(runs[beside & foreign])] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= MIN_AREA * band * band
    depth = cv2.distanceTransform((~ring).astype(np.uint8), cv2.DIST_L2, 3)  # from the background beside
    deepest = np.zeros(n)
    np.maximum.at(deepest, np.asarray(runs, np.intp).ravel(), depth.ravel())
    keep &= deepest >= MIN_DEPTH * band
    keep[0] = False
    return np.asarray(keep[runs])
