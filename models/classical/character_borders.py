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
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.labelmaps import refine_characters
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
