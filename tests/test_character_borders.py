"""The border between two touching characters (`character_borders.settle_drawing`): a strip of one
character on its neighbour's mask (a split drawn by geometry, a few px off) goes back to the character
whose colours it has; colours both draw in, the neighbour's own pixels and other objects stay."""

from __future__ import annotations

import numpy as np
from flat_figures import BLUE, GREEN_HAIR, PINK, PURPLE_HAIR, SKY, draw_figure

from models.classical.character_borders import settle_borders, settle_drawing

LEFT, RIGHT = 40, 64  # the two figures' left columns: they touch at column 64
SPLIT = 60  # the segmenter's straight border, 4 px inside the left figure
STRIP = np.s_[:, SPLIT : SPLIT + 2]  # the left figure's fill columns on the right one's mask
HAIR, BODY, FACE = slice(12, 26), slice(42, 76), slice(28, 40)


def _pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two touching figures over a sky wall, their true labels, and the segmenter's labels with the
    border at `SPLIT` (a text object 3 in a corner)."""
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = SKY
    truth = np.zeros((120, 160), np.uint8)
    draw_figure(img, truth, 1, LEFT, GREEN_HAIR, PINK)
    draw_figure(img, truth, 2, RIGHT, PURPLE_HAIR, BLUE)
    pred = truth.copy()
    pred[(truth == 1) & (np.arange(160)[None, :] >= SPLIT)] = 2
    pred[100:110, 5:30] = 3
    return img, truth, pred


def test_the_strip_in_the_left_figures_colours_goes_back_to_it() -> None:
    img, truth, pred = _pair()
    out = settle_drawing(img, pred, [1, 2])
    assert (out[HAIR][STRIP[1:]] == 1).all()  # its green hair
    assert (out[BODY][STRIP[1:]] == 1).all()  # its pink body
    assert (out[truth == 2] == 2).all()  # the right figure keeps all of its own
    assert (out[FACE][STRIP[1:]] == 2).all()  # skin: both draw in it, nothing says whose it is
    assert (out[100:110, 5:30] == 3).all() and int((out != pred).sum()) == 2 * (14 + 34)


def test_a_drawing_with_one_character_is_left_as_it_is() -> None:
    img, _, pred = _pair()
    out = settle_borders([img], [pred], [{1: "character", 2: "effect", 3: "text"}])
    assert np.array_equal(out[0], pred)
