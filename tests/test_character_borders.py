"""The border between two touching characters (`character_borders.settle_drawing`): a strip of one
character on its neighbour's mask (a split drawn by geometry, a few px off) goes back to the character
whose colours it has; colours both draw in, the neighbour's own pixels and other objects stay."""

from __future__ import annotations

import numpy as np
from flat_figures import BLUE, GREEN_HAIR, PINK, PURPLE_HAIR, SKY, draw_figure

from models.classical.character_borders import ink_borders, ink_drawing, settle_borders, settle_drawing

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


def _one_costume() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two figures in one costume (green hair, pink body), the right one in front, its outline drawn over
    the left one's side; the segmenter's border a straight column 3 px inside the front figure (its
    two columns of outline and one of fill on the left one's mask). 216 rows: the band is 3 px, as on
    the tuning seeds."""
    img = np.zeros((216, 240, 3), np.uint8)
    img[:] = SKY
    truth = np.zeros((216, 240), np.uint8)
    draw_figure(img, truth, 1, 40, GREEN_HAIR, PINK)
    draw_figure(img, truth, 2, 56, GREEN_HAIR, PINK)  # in front: it covers the left one from column 56
    pred = truth.copy()
    pred[(truth == 2) & (np.arange(240)[None, :] < 59)] = 1
    return img, truth, pred


def test_the_border_between_two_figures_in_one_costume_moves_onto_the_front_ones_outline() -> None:
    img, truth, pred = _one_costume()
    assert np.array_equal(settle_drawing(img, pred, [1, 2]), pred)  # the colours say nothing here
    out = ink_drawing(img, pred, [1, 2])
    assert (out[HAIR, 58] == 2).all() and (out[BODY, 58] == 2).all()  # the front one's fill is back
    assert (out[:, 56:58] == 1)[truth[:, 56:58] == 2].all()  # its outline, ink on both sides: left as it was
    assert int((out != truth).sum()) <= 2 * 82 + 18  # the outline, and the ink between its parts at columns 58-59
    assert np.array_equal(out[truth != 2], pred[truth != 2])  # the neighbour and the sky keep theirs


def test_ink_borders_leave_a_lone_character_and_other_objects_as_they_are() -> None:
    img, _, pred = _one_costume()
    pred[100:110, 5:30] = 3
    out = ink_borders([img], [pred], [{1: "character", 2: "effect", 3: "text"}])
    assert np.array_equal(out[0], pred)
    both = ink_drawing(img, pred, [1, 2])
    assert (both[100:110, 5:30] == 3).all()
