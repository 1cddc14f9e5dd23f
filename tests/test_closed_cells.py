"""A part a drawing's mask missed, closed by the line art between the character's parts
(`closed_cells.join_closed_cells`): it joins the character when the shot's other drawings show its
colour on the character and the wall around does not; a cell beside the character, one in the wall's
colour, one whose colour the character never showed, and other objects' pixels stay as they are."""

from __future__ import annotations

import numpy as np
from flat_figures import GREEN_HAIR, PINK, SKY, draw_figure

from models.classical.closed_cells import between, join_closed_cells

X = 60  # the figure's left column
SKIRT = np.s_[64:76, X + 2 : X + 22]  # the body's lower band, under an ink line at rows 62-63
YELLOW = (240, 200, 40)
WINDOW = np.s_[40:52, 92:104]  # a closed cell beside the figure (a window), inked around
KINDS = {1: "character", 3: "text"}


def _shot(skirt: tuple[int, int, int] = YELLOW, first_misses: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two drawings of one figure over a sky wall with a window beside it, the skirt in ``skirt``;
    the second drawing's mask misses the skirt (so does the first's with ``first_misses``); a text
    object sits in a corner."""
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = SKY
    truth = np.zeros((120, 160), np.uint8)
    draw_figure(img, truth, 1, X, GREEN_HAIR, PINK)
    img[62:64, X + 2 : X + 22] = (20, 20, 20)
    img[SKIRT] = skirt
    img[38:54, 90:106] = (20, 20, 20)
    img[WINDOW] = YELLOW
    truth[100:110, 5:30] = 3
    missed = truth.copy()
    missed[SKIRT] = 0
    return [img, img.copy()], [missed.copy() if first_misses else truth, missed]


def test_the_missed_skirt_joins_its_character() -> None:
    frames, labels = _shot()
    out = join_closed_cells(frames, labels, [KINDS, KINDS])
    assert (out[1][SKIRT] == 1).all()
    assert np.array_equal(out[0], labels[0])  # nothing was missed there
    changed = out[1] != labels[1]
    assert int(changed.sum()) == int(np.ones((120, 160), bool)[SKIRT].sum())  # the window and text stay


def test_a_colour_the_character_never_showed_stays_out() -> None:
    frames, labels = _shot(first_misses=True)
    out = join_closed_cells(frames, labels, [KINDS, KINDS])
    assert all(np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))


def test_a_cell_in_the_walls_colour_stays_out() -> None:
    frames, labels = _shot(skirt=SKY)  # the first drawing's mask holds it, but so does the ring around
    out = join_closed_cells(frames, labels, [KINDS, KINDS])
    assert (out[1][SKIRT] == 0).all()


def test_no_character_no_change() -> None:
    frames, labels = _shot()
    kinds = [{1: "effect", 3: "text"}] * 2
    out = join_closed_cells(frames, labels, kinds)
    assert all(np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))


def test_between_needs_the_mask_on_both_sides() -> None:
    mask = np.zeros((9, 9), bool)
    mask[:, 0] = mask[:, 6] = True
    out = between(mask, 3)
    assert out[4, 3]  # 3 px from each column
    assert not out[4, 2] and not out[4, 4]  # 4 px from one of them
    assert not out[4, 7] and not out[4, 8]  # nothing to the right of them
    assert not between(mask, 2)[4, 3]


def _cut_at_right_edge(frames: list[np.ndarray], labels: list[np.ndarray], cut: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The shot with the frame's right edge at column ``cut`` (the same frame size: sky added on the left)."""
    frames = [np.concatenate([np.broadcast_to(np.array(SKY, np.uint8), (120, 160 - cut, 3)), f[:, :cut]], 1)
              for f in frames]
    labels = [np.concatenate([np.zeros((120, 160 - cut), np.uint8), lab[:, :cut]], 1) for lab in labels]
    return frames, labels


def test_a_part_the_frame_cuts_joins_when_the_character_closes_it() -> None:
    # The frame's right edge cuts the skirt in half (a medium shot's vest): the body's ink and fill above
    # it, the legs below and the figure's left outline close it with the frame.
    frames, labels = _cut_at_right_edge(*_shot(), X + 12)
    out = join_closed_cells(frames, labels, [KINDS, KINDS])
    assert (out[1][64:76, -10:] == 1).all()
    assert int((out[1] != labels[1]).sum()) == 12 * 10  # the skirt's half alone


def test_a_cell_the_frame_cuts_beside_the_character_stays_out() -> None:
    # The window, in the skirt's colour (the character's), cut by the frame's right edge: the sky and its
    # frame's ink lie around it, not the character.
    frames, labels = _cut_at_right_edge(*_shot(), 98)
    out = join_closed_cells(frames, labels, [KINDS, KINDS])
    assert (out[1][WINDOW[0], -6:] == 0).all()
    assert (out[1][64:76, X + 62 + 2 : X + 62 + 22] == 1).all()  # the missed skirt, whole, still joins


def test_a_part_the_frame_cuts_joins_when_two_characters_close_it() -> None:
    # As above, but the legs below the cut skirt are a second character's mask (one standing behind):
    # neither mask holds `ENCLOSED` of the rim, both together do; the skirt joins the one holding most.
    frames, labels = _cut_at_right_edge(*_shot(), X + 12)
    kinds = {**KINDS, 2: "character"}
    for lab in labels:
        legs = lab[76:, -12:]
        legs[legs == 1] = 2
    out = join_closed_cells(frames, labels, [kinds, kinds])
    assert (out[1][64:76, -10:] == 1).all()
    assert int((out[1] != labels[1]).sum()) == 12 * 10  # the skirt's half alone
