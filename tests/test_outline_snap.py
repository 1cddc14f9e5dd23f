"""The per-drawing outline snap (`outline_snap.snap_drawing`): wall the mask took in beside the
character is cut, the outline's ring the mask missed joins it, and what the outline encloses stays, as
does a run that would read as added light (white, or brighter than the wall it opens onto)."""

from __future__ import annotations

import numpy as np
from flat_figures import PINK, SKY, draw_figure

from models.classical.outline_snap import snap_drawing, snap_outlines

X = 60  # the figure's left column
BLOCK = np.s_[50:62, X + 24 : X + 36]  # wall beside the figure's body, right of its outline


def _figure(body: tuple[int, int, int] = PINK) -> tuple[np.ndarray, np.ndarray]:
    """A figure (object 1) over a flat sky wall: the picture and its true labels."""
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = SKY
    truth = np.zeros((120, 160), np.uint8)
    draw_figure(img, truth, 1, X, (40, 150, 60), body)
    return img, truth


def _mask_with_block_without_ring(truth: np.ndarray) -> np.ndarray:
    """The segmenter's mask: the figure less its outermost ink pixel, plus a block of wall beside it."""
    mask = np.zeros_like(truth)
    mask[11:91, X + 1 : X + 23] = 1
    mask[BLOCK] = 1
    return mask


def test_wall_block_is_cut_and_outline_ring_added() -> None:
    img, truth = _figure()
    mask = _mask_with_block_without_ring(truth)
    out = snap_drawing(img, mask, [1])
    assert not (out[BLOCK] == 1).any()  # the block of wall, reached from outside, is cut
    ring = (truth == 1) & (mask == 0)
    assert (out[ring] == 1).mean() > 0.9  # the ink ring the mask ended inside of is the figure's
    assert int(((out == 1) != (truth == 1)).sum()) <= 4  # the truth, but for the ring's four corners


def test_fill_in_the_wall_colour_enclosed_by_its_outline_stays() -> None:
    # The body has the wall's colour: only the outline tells it from the wall, and it does.
    img, truth = _figure(body=SKY)
    mask = _mask_with_block_without_ring(truth)
    out = snap_drawing(img, mask, [1])
    assert (out[42:76, X + 2 : X + 22] == 1).all()
    assert not (out[BLOCK] == 1).any()


def test_a_drawing_without_visible_line_art_is_left_alone() -> None:
    # A flash: the outline is washed out to the wall's colour, so nothing would stop a cut.
    img, truth = _figure()
    img[truth == 1] = np.where(img[truth == 1] == 20, 150, img[truth == 1])
    img[(truth == 1)] = np.maximum(img[truth == 1], 140)
    mask = _mask_with_block_without_ring(truth)
    assert np.array_equal(snap_drawing(img, mask, [1]), mask)


def test_other_objects_and_kinds_are_untouched() -> None:
    img, truth = _figure()
    mask = _mask_with_block_without_ring(truth)
    mask[100:110, 10:30] = 2  # text over the wall, in the wall's colours
    out = snap_outlines([img], [mask], [{1: "character", 2: "text"}])[0]
    assert (out[100:110, 10:30] == 2).all()
    assert not (out[BLOCK] == 1).any()
    assert np.array_equal(snap_outlines([img], [mask], [{1: "text", 2: "text"}])[0], mask)


def test_a_light_fill_open_to_a_light_wall_stays() -> None:
    # Painted art: a white dress against a white wall with no ink between them on its right side. The
    # run is the wall's colour and reached from outside, but a light run stays (`LIGHT`); the same
    # opening in a sky-blue figure over the sky is cut, so it is the lightness that keeps it.
    for colour, kept in (((245, 245, 242), True), (SKY, False)):
        img, truth = _figure(body=colour)
        img[truth == 0] = colour
        img[42:76, X + 22 : X + 24] = colour  # no outline between the body and the wall
        out = snap_drawing(img, truth, [1])
        assert (out[44:74, X + 4 : X + 20] == 1).all() == kept


def test_a_run_brighter_than_the_wall_it_opens_onto_stays() -> None:
    # A yellow body over a yellow wall, but for a dark red strip right of the figure. Open on its right
    # to that strip, the run is in the ring's colour yet far brighter than the wall it opens onto: it
    # stays (`BRIGHTER`). Opened on its left to the yellow wall, it is that wall's colour: cut.
    yellow, red = (250, 220, 60), (120, 20, 30)
    for side, kept in ((np.s_[42:76, X + 22 : X + 24], True), (np.s_[42:76, X : X + 2], False)):
        img, truth = _figure(body=yellow)
        img[truth == 0] = yellow
        img[:, X + 24 : X + 40] = red
        img[side] = yellow  # no outline on that side of the body
        out = snap_drawing(img, truth, [1])
        assert (out[44:74, X + 4 : X + 20] == 1).all() == kept
