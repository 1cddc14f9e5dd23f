"""The mask grown onto a faint outline (`outline_reach.reach_drawing`): over a dark wall the outline is
too faint for the line art, and the mask that stopped on the fill takes it; a mask that already holds
its outline leaves the faint line beyond it (a speed line, a soft rim) out, and no object's pixels
are taken."""

from __future__ import annotations

import numpy as np

from models.classical.filters import line_art
from models.classical.outline_reach import reach_drawing, reach_outlines

# Grey levels of a dark grey skirt over a dark wall at night (tuning seed 12's third shot): the
# outline is 24 levels under the wall, under the line art's 28.
WALL, FILL, FAINT_INK, INK = 74, 71, 50, 15
BODY = np.s_[20:60, 30:70]  # the fill
OUTLINE = np.s_[19:61, 29:71]  # the fill and its one-pixel outline


def _figure(ink: int) -> np.ndarray:
    img = np.full((80, 100, 3), WALL, np.uint8)
    img[OUTLINE] = ink
    img[BODY] = FILL
    return img


def _ring() -> np.ndarray:
    ring = np.zeros((80, 100), bool)
    ring[OUTLINE] = True
    ring[BODY] = False
    return ring


def test_the_faint_outline_beside_the_fill_joins_the_mask() -> None:
    img = _figure(FAINT_INK)
    assert not line_art(img)[_ring()].any()  # the line art does not see this outline
    mask = np.zeros((80, 100), np.uint8)
    mask[BODY] = 1
    out = reach_drawing(img, mask, [1])
    edge = _ring()
    edge[19, 29] = edge[19, 70] = edge[60, 29] = edge[60, 70] = False  # corners: no 4-neighbour in the mask
    assert (out[edge] == 1).all()
    assert int((out == 1).sum()) == int((mask == 1).sum()) + int(edge.sum())  # one pixel deep, nothing else


def test_a_mask_that_holds_its_outline_leaves_the_faint_line_beyond_it() -> None:
    img = _figure(INK)
    img[10:70, 71] = FAINT_INK  # a faint line right outside the outline (a speed line, the soft rim)
    mask = np.zeros((80, 100), np.uint8)
    mask[OUTLINE] = 1  # the mask reaches the outer edge of its outline already
    out = reach_drawing(img, mask, [1])
    assert (out == mask).all()


def test_other_objects_keep_their_pixels_and_other_kinds_stay() -> None:
    img = _figure(FAINT_INK)
    labels = np.zeros((80, 100), np.uint8)
    labels[BODY] = 1
    labels[19, 29:71] = 2  # the top outline is another object's (a neighbour sharing it)
    out = reach_outlines([img], [labels], [{1: "character", 2: "character"}])[0]
    assert (out[19, 29:71] == 2).all()
    assert (out[30, 29] == 1) and (out[30, 70] == 1)  # the side outlines join
    text = reach_outlines([img], [labels], [{1: "text", 2: "character"}])[0]
    assert (text[30, 29] == 0) and (text[BODY] == 1).all()  # text is no character: left as it is
