"""The border between two touching characters' masks moved to where their colours part.

The segmenter parts two characters who touch by geometry (the column under each face, the face box's
edge, the nearest carried object: `tracking.split_merged`, `tracking.split_hidden`), so in a drawing
the border between their masks is often a straight line through one of them: a strip of the front
one's hair on the neighbour's mask, the neighbour's sleeve on the front one's. Measured on the 10
tuning seeds of `benchmarks/segment_generated.py` (round 18): of the character pixels lost to
"another character" (0.065 of the true characters' pixels, counted once more as "missed: another
object"), 0.042 lie on the border between two characters that each have their object, 0.022 on an
object that holds a hidden character; the line art between them is not closed (a flat region
between lines spans both characters in most of these drawings), but their palettes differ.

Per drawing, for each pair of characters whose masks come within `BORDER` of each other: a pixel of
one mask within `BORDER` of the other goes to the other when its colour is `RATIO` times more frequent
in the other's core than in its own (the core: the mask's pixels farther than `BORDER` from the other
mask, where a border drawn a few px off says nothing) and at least `PRESENT` of that core has it. Colours both
draw in (skin, line art, eye whites) stay where they are.

Where the two draw in the same colours (one costume, 13@0's pink shirts and blue skirts) the colours say
nothing, but the ink does: each character is enclosed by its own dark outline, so the border between two
touching characters lies on the front one's outline. `ink_borders` (run last of the segment stage's
refinements) floods the pixels within `INK_BAND` of the border from both masks beyond it (a watershed of
the drawing, `cv2.watershed`): each side grows until it meets the other at the strongest colour step
between them, the outline. Measured on the 10 tuning seeds (round 23), of the true characters' pixels on
another character's object that lie beside their own object's, half (0.0084 of 0.0173) are within 2 px of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.labelmaps import refine_characters
from models.classical.morphology import grown_box
from models.classical.tracks import colour_index

# Reach of the border, as a share of the frame's short side (4 px at 216 p). Tuning seeds, character
# IoU with 4 / 8 / 12 px: 0.7276 / 0.7265 / 0.7232 (0.7223 without): a wider band reaches into the
# neighbour's own colours where both draw the same (hair of close shades).
BORDER = 0.019
# How many times more frequent the pixel's colour must be in the other's core than in its own
# (tuning seeds at 4 px, 2 / 3 / 6: 0.7275 / 0.7276 / 0.7270).
RATIO = 3.0
# The least share of the other's core in the pixel's colour: a colour that core hardly shows is no
# evidence for it.
PRESENT = 0.002
# Fewest core pixels a mask needs for its palette to count.
MIN_CORE = 50
# Reach of the ink border, as a share of the frame's short side (3 px at 216 p). Tuning seeds (round 23),
# character IoU with 2 / 3 / 4 / 6 / 10 px: 0.7450 / 0.7451 / 0.7440 / 0.7423 / 0.7396 (0.7426 without; 3 px with
# the meeting line given to the nearest colour, `_nearest_side`: 0.7453):
# a wider band lets the flood cross the front one's outline at a weaker step inside it (hair strands, folds).
INK_BAND = 0.014


def settle_borders(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's borders between characters settled (`settle_drawing`)."""
    return refine_characters(frames, labels, kinds, settle_drawing)


def settle_drawing(image: Image, labels: Labels, characters: Sequence[int]) -> Labels:
    """One drawing's ``labels`` with the pixels near the border between two of ``characters`` given
    to the one whose colours they have (see the module docstring). Only character pixels change
    hands; every decision reads the labels as they came in."""
    present = [k for k in characters if bool((labels == k).any())]
    out = np.array(labels, copy=True)
    if len(present) < 2:
        return out
    code = colour_index(np.asarray(image, np.uint8))
    colours = int(code.max()) + 1
    r = max(1, round(BORDER * min(labels.shape)))
    disc = np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)), np.uint8)
    masks = {k: labels == k for k in present}
    near = {k: cv2.dilate(m.astype(np.uint8), disc) > 0 for k, m in masks.items()}
    for a in present:
        for b in present:
            if a == b or not (masks[a] & near[b]).any():
                continue
            share_a = _palette(code, masks[a] & ~near[b], colours)
            share_b = _palette(code, masks[b] & ~near[a], colours)
            if share_a is None or share_b is None:
                continue
            theirs = (share_b > RATIO * share_a) & (share_b > PRESENT)
            out[masks[a] & near[b] & theirs[code]] = b
    return out


def _palette(code: NDArray[np.uint16], core: NDArray[np.bool_], colours: int) -> NDArray[np.float64] | None:
    """Each colour's share of ``core``'s pixels; None when the core is under `MIN_CORE` px."""
    n = int(core.sum())
    if n < MIN_CORE:
        return None
    return np.bincount(code[core], minlength=colours) / n


def ink_borders(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's borders between characters moved onto the ink between them
    (`ink_drawing`)."""
    return refine_characters(frames, labels, kinds, ink_drawing)


def ink_drawing(image: Image, labels: Labels, characters: Sequence[int]) -> Labels:
    """One drawing's ``labels`` with the pixels of ``characters`` within `INK_BAND` of another
    character's mask flooded again from both masks beyond that band (`cv2.watershed` of the drawing):
    the two meet at the strongest colour step between them, the outline that encloses the front one
    (see the module docstring). Only character pixels change hands, between characters; a mask the
    band covers whole keeps its pixels (nothing would flood it back)."""
    present = [k for k in characters if bool((labels == k).any())]
    out = np.array(labels, copy=True)
    if len(present) < 2:
        return out
    r = max(1, round(INK_BAND * min(labels.shape)))
    disc = np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)), np.uint8)
    union = np.isin(labels, present)
    band = np.zeros(labels.shape, bool)
    for k in present:
        mine = labels == k
        band |= mine & (cv2.dilate((union & ~mine).astype(np.uint8), disc) > 0)
    for k in present:
        if not (labels == k)[~band].any():
            band &= labels != k
    # The flood reaches the band from beyond it (r + 2 px); the crop's own edge is a watershed line.
    crop = grown_box(band, r + 2)
    if crop is None:
        return out
    markers = np.where(union[crop], labels[crop].astype(np.int32), 256)  # 256: not a character, a flood of its own
    markers[band[crop]] = 0
    cv2.watershed(np.ascontiguousarray(np.asarray(image, np.uint8)[crop][..., ::-1]), markers)
    take = band[crop] & np.isin(markers, present)
    out[crop][take] = markers[take].astype(np.uint8)
    line = band[crop] & (markers == -1)
    if line.any():  # where the two floods met: the side whose colour is nearest the pixel's own
        side = _nearest_side(np.asarray(image, np.int16)[crop], markers, present)
        line &= side > 0
        out[crop][line] = side[line]
    return out


def _nearest_side(image: NDArray[np.int16], markers: NDArray[np.int32], present: Sequence[int]) -> NDArray[np.uint8]:
    """Each pixel's 4-neighbour label of ``present`` in ``markers`` whose colour is nearest the pixel's
    own (0 where none is)."""
    h, w = markers.shape
    best = np.full((h, w), np.iinfo(np.int32).max, np.int32)
    side = np.zeros((h, w), np.uint8)
    pm = np.pad(markers, 1, constant_values=0)
    pi = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        lab = pm[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        diff = np.abs(pi[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] - image).sum(axis=2).astype(np.int32)
        better = np.isin(lab, present) & (diff < best)
        best[better] = diff[better]
        side[better] = lab[better]
    return side
