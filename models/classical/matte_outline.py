"""The matte's edge cut to the outer edge of the character's own outline.

An anime character is enclosed by its own dark outline: alpha is 1 up to the outer edge of that
line and 0 beyond it. Segment masks often run a few pixels past the line onto the background; where
the shot never shows the background there, the matte feathers the mask's edge and kept that strip.
`beyond_outline` finds those pixels: near the mask's edge where the background is not known,
reached from the outside without crossing line art, with line art deeper in the mask close by, and in
the colours just outside the mask rather than those of the fill across the line. Where no line runs
inside the edge (hair tips, glows, soft art) nothing is cut, nor at the edge of a hole or a notch the
mask nearly closes (a part of the character the mask missed, whose colours the outside then has), nor
in runs smaller than a few bands squared. Where the background is known the compositing solve judges
the edge (`matting.ClassicalMatter._matte_near`), and this leaves it alone.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask
from models.classical.filters import colour_distance, line_art
from models.classical.tracks import more_frequent_on

F32 = NDArray[Any]  # cv2 stubs type results loosely; keep internal arrays loose too

DEPTH = 2.0  # bands: how far into the mask a cut reaches (6 px at 480 p), and the line may lie
LINE_CONTRAST = 12.0  # levels a line pixel is darker than its surroundings (black-hat, band radius)
NEAR_BACKGROUND = 25.0  # levels: a pixel this close to the background side's colour has it
FOREIGN = 25.0  # levels: an outside pixel this far from the known background is no background
ENCLOSED = 0.65  # share of the square around a pixel (2 x 3 + 1 bands) that is mask, above which it is in a notch
WINDOW = 3.0  # bands: half the side of that square
MIN_AREA = 4.0  # squared bands: smaller cut runs are left (36 px at 480 p)


def _local_mean(img: F32, weight: F32, sigma: float) -> tuple[F32, F32]:
    """Mean colour of the weighted pixels around each pixel (normalised convolution), and the weight."""
    w = cv2.GaussianBlur(weight, (0, 0), sigma)
    num = cv2.GaussianBlur(img * weight[..., None], (0, 0), sigma)
    return num / np.maximum(w, 1e-6)[..., None], w


def beyond_outline(image: Image, mask: Mask, background: Image, known: Mask, band: int, exterior: Mask) -> Mask:
    """The pixels of ``mask`` beyond the outer edge of the character's outline, to be cut.

    A pixel is cut when the background behind it is not ``known``, it lies within `DEPTH` bands of
    the ``exterior`` (outside the mask and not a hole or gap it encloses), is joined to it by mask
    pixels that are no line art, has line art deeper in the mask within `DEPTH` bands, has the colour
    of the exterior just outside (its local mean) within `NEAR_BACKGROUND` levels and nearer than
    the fill across the line, is no colour more frequent on the mask than around it, is not
    beside an outside pixel the known ``background`` says is no background, and is not in a notch (over
    `ENCLOSED` of the square around it is mask); and its run of such pixels touches the exterior and
    holds at least `MIN_AREA` squared bands."""
    mask = np.asarray(mask, bool)
    out = np.zeros(mask.shape, bool)
    if not mask.any() or mask.all():
        return out
    exterior = np.asarray(exterior, bool) & ~mask
    known = np.asarray(known, bool)
    lines = line_art(image, band, contrast=LINE_CONTRAST) & mask
    # Distance of each mask pixel to the outside (the frame's border is not outside).
    depth = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1, mode="edge"), cv2.DIST_L2, 3)[1:-1, 1:-1]
    reach = DEPTH * band
    outside = cv2.dilate(exterior.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # Reached from the outside without crossing a line, and no deeper than the reach.
    zone = mask & (depth <= reach) & ~lines
    count, runs = cv2.connectedComponents(zone.astype(np.uint8), connectivity=4)
    if count <= 1:
        return out
    touches = np.zeros(count, bool)
    touches[np.unique(runs[outside & zone])] = True
    touches[0] = False
    reached = touches[runs]
    # A line deeper in the mask close by: the pixel is outside the line.
    r = round(reach)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    inward = cv2.dilate(np.where(lines, depth, 0).astype(np.float32), disc) > depth + 1.0
    # The colour of the outside just beyond the mask, not the fill's.
    img = image.astype(np.float32)
    sigma = float(band)
    out_mean, _ = _local_mean(img, (outside & exterior).astype(np.float32), sigma)
    fill = (mask & ~lines & (depth > reach)).astype(np.float32)
    in_mean, in_w = _local_mean(img, fill, 2.0 * sigma)
    to_side = colour_distance(img, out_mean)
    matches = (to_side < NEAR_BACKGROUND) & (in_w >= 1e-3) & (to_side < colour_distance(img, in_mean))
    # Not a colour of the character's (more frequent on the mask than around it: 4 bits a channel).
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (8 * band + 1, 8 * band + 1))
    around = (cv2.dilate(mask.astype(np.uint8), k) > 0) & exterior
    matches &= ~more_frequent_on(image, mask & ~lines, around)
    # Not beside an outside the shot's other frames show is no background (a part the mask missed).
    foreign = exterior & known & (colour_distance(img, background.astype(np.float32)) > FOREIGN)
    near_foreign = cv2.dilate(foreign.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    # Not in a notch or at a hole's edge: along a silhouette the mask fills about half the square.
    side_px = 2 * round(WINDOW * band) + 1
    surround = cv2.boxFilter(mask.astype(np.float32), -1, (side_px, side_px), borderType=cv2.BORDER_REPLICATE)
    # (less what a straight edge gives a pixel that deep: half the square and a row per pixel)
    cut = ~known & reached & inward & matches & ~near_foreign & (surround - depth / side_px <= ENCLOSED)
    # Runs that touch the outside (the cut comes in from the edge) and are not specks.
    n, lab, stats, _ = cv2.connectedComponentsWithStats(cut.astype(np.uint8), connectivity=4)
    if n <= 1:
        return out
    keep = np.zeros(n, bool)
    keep[np.unique(lab[outside & cut])] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= MIN_AREA * band * band
    keep[0] = False
    return np.asarray(keep[lab])
