"""Each drawing's character masks reach their outline where they stopped one pixel short of it.

A character's alpha is 1 up to the outer edge of its own dark outline, but over a dark wall the
outline is hardly darker than its surroundings: `filters.line_art` (a black-hat over 28 levels)
misses it, so neither the segmenter nor `outline_snap`'s ring (45 levels) takes it, and the mask
ends on the character's fill one pixel inside the character. Per drawing and character, a pixel
outside every object joins the mask when

- it is a faint line (darker than its surroundings by `FAINT` levels: the outline over a dark
  wall, or the outline's anti-aliased outer half), and
- it is a 4-neighbour of a mask pixel that is no line art: the mask stopped on the fill, short of
  the outline. Where the mask already holds its outline (its edge pixel is line art), the faint
  line beyond it is a speed line, a window's edge or the outline's soft rim, and stays out.

One pixel deep: a second step through faint lines took more wall and soft rim than character
(character IoU 0.7365 -> 0.7361 on the tuning seeds).
Measured on the 10 tuning seeds of `benchmarks/segment_generated.py` (docs/results.md, "Round 21
(wt-U)"): missed as background 0.049 -> 0.044 of the true characters' pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from models.base import Image, Labels
from models.classical.filters import line_art
from models.classical.labelmaps import refine_characters

CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
# Black-hat levels of a faint line (the default line art is 28). Tuning seeds, 10 / 15 / 20 / 28:
# character IoU 0.7366 / 0.7365 / 0.7364 / 0.7357 against 0.7344 without the rule; at 10 the
# missed share falls by 0.0054 of the true characters' pixels and the false shares grow by 0.0038
# (soft rim, wall, light), at 15 by 0.0046 and 0.0028.
FAINT = 15.0


def reach_outlines(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's character masks grown onto the faint outline right outside
    them (`reach_drawing`); other kinds (text, effects) stay."""
    return refine_characters(frames, labels, kinds, reach_drawing)


def reach_drawing(image: Image, labels: Labels, characters: Sequence[int]) -> Labels:
    """One drawing's ``labels`` with each of ``characters`` given the faint line pixels beside its
    mask's unlined edge (see the module docstring). Pixels of any object are never taken; where two
    masks reach the same pixel, the first of ``characters`` takes it."""
    out = np.array(labels, copy=True)
    img = np.asarray(image, np.uint8)
    faint = line_art(img, contrast=FAINT)
    lined = line_art(img)
    for k in characters:
        fill_edge = (out == k) & ~lined
        if not fill_edge.any():
            continue
        reached = (cv2.dilate(fill_edge.view(np.uint8), CROSS) > 0) & faint & (out == 0)
        out[reached] = k
    return out
