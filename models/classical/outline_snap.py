"""Each drawing's character masks snapped to the character's own outline.

An anime character is enclosed by its own dark outline, and its alpha is 1 up to the outer edge of
that line. Two per-drawing rules use that, from the picture alone (most wall a mask takes in was
never seen uncovered by another drawing, so only this drawing's line art can decide it):

- wall inside the mask: a run of the mask reached from outside it without crossing line art, in
  colours more frequent in the ring just outside the mask than on the mask, is background the mask
  took in (a block of wall beside an arm): it is cut. The character's outline stops the run, so its
  fill is not reached even where it has the wall's colour. A run that would read as light stays
  (white or pale, or brighter than the wall beside it): painted art's white clothes and light hair
  need no dark outline against a light wall, and the effects stage reads them as light once cut.
- the outline ring: the dark line pixels right outside the mask's edge are the character's outline
  (the mask ended inside its stroke): they join it, one pixel deep.

Where the drawing shows no line art along the mask's edge (a flash, a fade, a soft part) nothing is
changed: the outline that would stop a cut is not there to see.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.filters import line_art
from models.classical.labelmaps import refine_characters
from models.classical.tracks import more_frequent_on

K3 = np.ones((3, 3), np.uint8)
CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
# Share of the mask's edge with line art within 2 px, under which the drawing's outline is not seen
# (flash frames of the tuning seeds: 0.0; drawn frames 0.3-1.0, most over 0.7).
LINED = 0.5
# The ring outside the mask whose colours are the background's, as a share of the frame's short
# side (8 px at 216 p; tuning seeds 8 / 15 / 25 px: character IoU 0.7048 / 0.7041 / 0.7034).
AROUND = 0.037
# Line art darker than its surroundings by this much (black-hat levels) joins the mask as its
# outline ring: the default 28 also takes the anti-aliased outer rim, whose alpha is under a half
# (tuning seeds 28 / 45 / 60: character IoU 0.7061 / 0.7069 / 0.7063).
RING_CONTRAST = 45.0
# A run that would read as added light to the effects stage stays in the mask: one whose darkest
# channel is this light on average (white clothes, pale skin: where a light fill borders a light wall
# the ring's colours cannot tell them apart; layer-quality 101's white coat, 202's white dress), or
# one brighter than the wall pixels it opens onto by `BRIGHTER` luminance levels (a light hair
# strand's rim over a dark wall). Cut, either is measured against the wall plate and found lit
# (202: effects IoU 0.340 -> 0.269 with the first rule alone, 0.340 with both).
LIGHT = 200.0
BRIGHTER = 20.0


def snap_outlines(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's character masks snapped to their outlines (`snap_drawing`);
    other kinds (text, effects) stay."""
    return refine_characters(frames, labels, kinds, snap_drawing)


def snap_drawing(image: Image, labels: Labels, characters: Sequence[int]) -> Labels:
    """One drawing's ``labels`` with the wall runs of each of ``characters``' masks cut and the outline
    ring added (see the module docstring). Other objects' pixels are never taken."""
    out = np.array(labels, copy=True)
    strokes = line_art(image)
    lined = cv2.dilate(strokes.astype(np.uint8), K3, iterations=2) > 0
    # Where a run enters the mask from: outside every object, and not on line art (a mask that ends
    # inside the outline's stroke is not entered through it).
    outside = labels == 0
    entry = cv2.dilate((outside & ~strokes).astype(np.uint8), K3) > 0
    ring_lines = line_art(image, contrast=RING_CONTRAST)
    r = max(1, round(AROUND * min(labels.shape)))
    around_disc = np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)), np.uint8)
    for k in characters:
        own = out == k
        if not own.any():
            continue
        edge = own & (cv2.erode(own.astype(np.uint8), K3) == 0)
        if float(lined[edge].mean()) < LINED:
            continue
        own &= ~_wall_runs(image, own, outside, strokes, entry, around_disc)
        out[(out == k) & ~own] = 0
        # The outline ring: line pixels beside the mask (4-neighbours) that no object holds.
        ring = (cv2.dilate(own.astype(np.uint8), CROSS) > 0) & ring_lines & (out == 0)
        out[ring] = k
    return out


def _wall_runs(image: Image, own: NDArray[np.bool_], outside: NDArray[np.bool_], strokes: NDArray[np.bool_],
               entry: NDArray[np.bool_], around_disc: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The runs of ``own`` (4-connected, no line art) in colours more frequent in the ring
    ``around_disc`` outside it than on it, that touch an ``entry`` pixel."""
    around = (cv2.dilate(own.astype(np.uint8), around_disc) > 0) & outside
    if not around.any():
        return np.zeros(own.shape, bool)  # nothing around it to be the background: a close-up
    fill = own & ~strokes
    walls = fill & more_frequent_on(image, around, fill)
    n, found = cv2.connectedComponents(walls.astype(np.uint8), connectivity=4)
    runs = np.asarray(found, np.int32)
    reached = np.zeros(n, bool)
    reached[np.unique(runs[walls & entry])] = True
    reached[0] = False
    return np.asarray((reached & ~_read_as_light(image, runs, n, outside & ~strokes))[runs])


def _read_as_light(image: Image, runs: NDArray[np.int32], n: int, wall: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per run (label of ``runs``, 0..n-1): light on average (`LIGHT`), or brighter by `BRIGHTER`
    than the ``wall`` pixels 4-adjacent to it."""
    img = np.asarray(image, np.uint8)
    flat = runs.ravel()
    size = np.maximum(1, np.bincount(flat, minlength=n))
    light = np.bincount(flat, weights=img.min(axis=2).ravel(), minlength=n) >= LIGHT * size
    lum = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    beside, count = np.zeros(n), np.zeros(n)
    h, w = runs.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        run = runs[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        at = np.s_[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
        on = (run > 0) & wall[at]
        beside += np.bincount(run[on], weights=lum[at][on], minlength=n)
        count += np.bincount(run[on], minlength=n)
    own = np.bincount(flat, weights=lum.ravel(), minlength=n) / size
    brighter = (count > 0) & (own - beside / np.maximum(count, 1) >= BRIGHTER)
    return np.asarray(light | brighter)
