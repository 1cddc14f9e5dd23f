"""A block of wall GrabCut's box left in a character's mask (`box_blocks.cut_box_blocks`): behind
long straight sides with no line art it is cut back to the character's outline; the character, a
fill the mask's straight side cuts across (outlined elsewhere), a light block, a small one and other
objects' pixels stay. A building in two tones is cut whole: each tone floods from its own piece of
the straight sides."""

from __future__ import annotations

import cv2
import numpy as np
from flat_figures import GREEN_HAIR, PINK, SKY, draw_figure

from models.classical.box_blocks import cut_box_blocks, straight_runs

X = 60  # the figure's left column; it is 24 px wide, rows 10-91
BUILDING = (215, 198, 168)  # a painted wall, no outline
BLOCK = np.s_[30:92, X + 24 : X + 50]  # beside the figure's right outline
KINDS = {1: "character", 3: "text"}


def straight_sides(own: np.ndarray, near_line: np.ndarray, length: int) -> np.ndarray:
    """The straight runs of every facing (`straight_runs`) as one mask."""
    return np.logical_or.reduce([runs for runs, _ in straight_runs(own, near_line, length)])


def _drawing(wall: tuple[int, int, int] = BUILDING, block: tuple[slice, slice] = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A figure over the sky beside a flat block of ``wall``; the figure's mask (object 1) holds the
    block too; a text object sits in a corner. Returns the picture, the mask and the figure's truth."""
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = SKY
    img[block] = wall
    truth = np.zeros((120, 160), np.uint8)
    draw_figure(img, truth, 1, X, GREEN_HAIR, PINK)
    labels = truth.copy()
    labels[block] = 1
    labels[100:110, 5:30] = 3
    return img, labels, truth


def test_the_block_beside_the_character_is_cut() -> None:
    img, labels, truth = _drawing()
    out = cut_box_blocks([img], [labels], [KINDS])[0]
    assert (out[BLOCK] == 0).all()
    assert np.array_equal(out == 1, truth == 1)  # the figure, outline and fills, stays whole
    assert (out[100:110, 5:30] == 3).all()


def test_both_faces_of_a_two_tone_building_are_cut() -> None:
    img, labels, truth = _drawing()
    shade = np.s_[30:92, X + 24 : X + 32]  # the shaded face beside the figure, the lit face beyond it
    img[shade] = (150, 135, 110)
    # One straight side (top, right, bottom: 8-connected) is mostly the lit face's colour: flooded in
    # its median alone, the shaded face stayed in the mask.
    out = cut_box_blocks([img], [labels], [KINDS])[0]
    assert (out[BLOCK] == 0).all()
    assert np.array_equal(out == 1, truth == 1)


def test_a_fill_the_masks_side_cuts_across_stays() -> None:
    img, _, truth = _drawing()
    labels = truth.copy()
    labels[60:92] = 0  # the mask ends straight across the body's fill (rows 42-75), then the legs
    assert straight_sides(labels == 1, np.zeros(labels.shape, bool), 8)[59, X + 2 : X + 22].all()
    out = cut_box_blocks([img], [labels], [KINDS])[0]
    assert np.array_equal(out, labels)  # outlined on three sides: a part of the character


def test_a_light_block_stays() -> None:
    img, labels, _ = _drawing(wall=(250, 250, 250))  # white clothes need no outline against a light wall
    out = cut_box_blocks([img], [labels], [KINDS])[0]
    assert np.array_equal(out, labels)


def test_a_small_block_stays() -> None:
    block = np.s_[80:92, X + 24 : X + 27]  # 36 px: under MIN_BLOCK of the frame
    img, labels, _ = _drawing(block=block)
    out = cut_box_blocks([img], [labels], [KINDS])[0]
    assert np.array_equal(out, labels)


def test_other_kinds_keep_their_blocks() -> None:
    img, labels, _ = _drawing()
    out = cut_box_blocks([img], [labels], [{1: "effect", 3: "text"}])[0]
    assert np.array_equal(out, labels)


def test_straight_sides_need_the_length_and_no_line_art() -> None:
    own = np.zeros((20, 30), bool)
    own[5:15, 5:25] = True  # a 20 x 10 box
    sides = straight_sides(own, np.zeros(own.shape, bool), 12)
    assert sides[5, 5:25].all() and sides[14, 5:25].all()  # top and bottom: 20 px
    assert not sides[6:14, 5].any()  # the left and right sides are 10 px: too short
    inked = np.zeros(own.shape, bool)
    inked[5, 14] = True  # a line pixel splits the top side into 9 + 10 px
    assert not straight_sides(own, inked, 12)[5].any()


INK = (40, 30, 30)
JACKET = (70, 90, 70)  # a dark fill whose outline is no darker than itself (layer-quality 707's jacket)


def _front_body(height: int, jacket_rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """A head outlined in ink over the sky, a dark jacket below it with no outline; the mask (object 1)
    holds both. Returns the picture and the mask."""
    img = np.zeros((height, 160, 3), np.uint8)
    img[:] = SKY
    img[jacket_rows, 45:76] = JACKET
    cv2.circle(img, (60, 40), 25, PINK, -1)
    cv2.circle(img, (60, 40), 25, INK, 2)
    labels = np.zeros((height, 160), np.uint8)
    cv2.circle(labels, (60, 40), 26, 1, -1)
    labels[jacket_rows, 45:76] = 1
    return img, labels


def test_a_body_the_frame_cuts_is_no_block() -> None:
    # The jacket runs to the frame's bottom edge: the character's outline and the frame's edge close
    # it, whatever its straight unlined sides.
    img, labels = _front_body(120, np.s_[62:120])
    assert straight_sides(labels == 1, np.zeros(labels.shape, bool), 8)[70:110, 45].all()
    out = cut_box_blocks([img], [labels], [{1: "character"}])[0]
    assert np.array_equal(out, labels)


def test_the_same_body_above_the_frame_edge_is_a_block() -> None:
    # Ending above the frame's edge, with the sky below it, the same fill is a block of the box.
    img, labels = _front_body(140, np.s_[62:110])
    out = cut_box_blocks([img], [labels], [{1: "character"}])[0]
    assert (out[70:110, 45:76] == 0).all()
    assert (out[20:60, 45:76] == labels[20:60, 45:76]).all()  # the head stays
