"""Blocks of wall a character's mask took in with GrabCut's box, cut back from the box's straight sides.

Where the shot's median plate holds the characters who walk over a building, the segmenter's GrabCut
keeps a rectangular block of that building between two characters or beside one, and the plate check
cannot tell it from them. A character is enclosed by its own dark outline; the block is not: its sides
are long, straight and axis-aligned (the box's, or the painted building's own edges), with no line art
along them. Per drawing and character, the rule

- finds the mask's straight sides: runs of at least `SIDE` of the frame's short side, along a row or
  a column, of edge pixels (beside a pixel that is not the character's: the outside or another
  object) with no line art within `NEAR_LINE` px;
- parts the sides into pieces: one side's run (along a row or a column, 8-connected) up to where
  its colour steps by more than `SAME_COLOUR` from one pixel to the next (a building's lit and
  shaded faces, its roof and wall, meet on one straight side);
- from each piece, floods the mask off the line art in the piece's colour (within `SAME_COLOUR` of
  its median, 4-connected): the block, up to where the character's outline or its own fills begin;
- cuts the block to background when it is a block, not a part of the character: at least
  `MIN_BLOCK` of the frame and at most `MAX_SHARE` of the mask; neither ink dark nor light on average
  (`DARK`..`LIGHT` for its darkest channel: white clothes and pale skin need no outline against a
  light wall, and impact frames are two inks); and enclosed by line art on under `LINED` of its
  border (a fill the mask's side cuts across is outlined elsewhere).

Measured on the 10 tuning seeds of `benchmarks/segment_generated.py` (docs/results.md, "Round 20
(wt-U)"), with each guard: the small regions the flood reaches are mostly a character's trousers or
legs beside a straight side; the large ones are almost all wall.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.filters import line_art
from models.classical.labelmaps import refine_characters

K3 = np.ones((3, 3), np.uint8)
CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
# A straight side is this share of the frame's short side long, at least (15 px at 216 p; tuning seeds,
# character IoU 10 / 15 / 20 / 25 px: 0.7340 / 0.7333 / 0.7323 / 0.7320, fragmentation 1.07 at 10 px,
# 1.05 else).
SIDE = 0.07
NEAR_LINE = 1  # px: line art this near an edge pixel outlines it (2 px: character IoU 0.7335)
# Sum of the three channels' differences from the side's median colour within which the flood goes
# (tuning seeds 20 / 30 / 45: character IoU 0.7326 / 0.7333 / 0.7342, fragmentation 1.05 / 1.05 / 1.07).
SAME_COLOUR = 30
# A block is this share of the frame's pixels at least (200 px at 384 x 216; tuning seeds 0 / 100 / 200 /
# 300 px: character IoU 0.7334 / 0.7331 / 0.7333 / 0.7325; under 200 px the cuts were a character's
# trousers or legs as often as wall: seeds 12@20, 23@0 and 25@0 lost 0.010-0.020 at 0 px, 0.004-0.006 at 200).
MIN_BLOCK = 0.0024
MAX_SHARE = 0.5  # of the character's mask in the drawing (0.3: the same figures)
# Mean darkest channel of a block outside which it stays: ink (impact frames) or light (white clothes,
# pale skin). Tuning seeds, light 200 / 220 / 240: character IoU 0.7326 / 0.7333 / 0.7331.
DARK = 50.0
LIGHT = 220.0
# Share of a block's border on line art (within 1 px) from which it is an outlined fill and stays
# (tuning seeds 0.4 / 0.5 / 0.6: character IoU 0.7328 / 0.7333 / 0.7333).
LINED = 0.5


def cut_box_blocks(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's box blocks cut from its character masks (see the module
    docstring); other kinds (text, effects) stay."""
    return refine_characters(frames, labels, kinds, cut_drawing)


def cut_drawing(image: Image, labels: Labels, characters: Sequence[int]) -> Labels:
    """One drawing's ``labels`` with the box blocks of ``characters``' masks cut to background."""
    out = np.array(labels, copy=True)
    strokes = line_art(image)
    near_line = cv2.dilate(strokes.astype(np.uint8), K3, iterations=NEAR_LINE) > 0
    lined = cv2.dilate(strokes.astype(np.uint8), K3) > 0
    colour = np.asarray(image, np.int16)
    short = min(labels.shape)
    length = max(3, round(SIDE * short))
    min_block = MIN_BLOCK * labels.size
    frame_edge = np.zeros(labels.shape, bool)  # the frame's outermost rows and columns
    frame_edge[[0, -1], :] = True
    frame_edge[:, [0, -1]] = True
    for k in characters:
        whole = out == k
        area = int(whole.sum())
        if not area:
            continue
        # Everything below reads the mask and one pixel round it (its edges, a block's border): its
        # box, not the frame (the same cut; at 480p the stage's frames/s fell 1.7 -> 1.3 on frame-wide
        # passes per side piece).
        x, y, w, h = cv2.boundingRect(whole.astype(np.uint8))
        box = np.s_[max(0, y - 1):y + h + 1, max(0, x - 1):x + w + 1]
        own, in_colour, in_lined = whole[box], colour[box], lined[box]
        cut = np.zeros(own.shape, bool)
        for side in side_pieces(straight_runs(own, near_line[box], length), in_colour):
            block = _flood(in_colour, own & ~strokes[box], side)
            size = int(block.sum())
            if size < min_block or size > MAX_SHARE * area:
                continue
            darkest = float(in_colour[block].min(axis=1).mean())
            if not DARK <= darkest < LIGHT:
                continue
            border = (cv2.dilate(block.astype(np.uint8), CROSS) > 0) & ~block
            # A block that reaches the frame's border is a body the frame cuts, closed by the character's
            # outline and the frame's edge: GrabCut's box stops at the character, not the frame. The
            # dark jacket of layer-quality 707 (frames 17-22: 1,700-3,600 px a side piece, all
            # character, lined 0.08-0.14: its outline is no darker than its fill) was cut here; kept, the
            # layer-quality shots miss 238,318 -> 203,345 true px, background held +15 px; the 10
            # segment_generated tuning seeds have no such block (identical figures).
            if (block & frame_edge[box]).any():
                continue
            if int((border & in_lined).sum()) >= LINED * int(border.sum()):
                continue
            cut |= block
        out[box][cut] = 0
    return out


def straight_runs(own: NDArray[np.bool_], near_line: NDArray[np.bool_],
                  length: int) -> list[tuple[NDArray[np.bool_], int]]:
    """The edge pixels of ``own`` away from ``near_line`` that lie in straight runs of ``length`` or
    more, by the side they face: along a row where the pixel above (or below) is not ``own``, along a
    column where the pixel to the left (or right) is not. Each with the axis its runs go along
    (1: rows, 0: columns)."""
    free = own & ~near_line
    off = np.pad(~own, 1, constant_values=False)  # beyond the frame is not an edge
    above, below = off[:-2, 1:-1], off[2:, 1:-1]
    left, right = off[1:-1, :-2], off[1:-1, 2:]
    row = np.ones((1, length), np.uint8)
    out = []
    for beside, line, last, axis in ((above, row, (length - 1, 0), 1), (below, row, (length - 1, 0), 1),
                                     (left, row.T, (0, length - 1), 0), (right, row.T, (0, length - 1), 0)):
        # An opening by a straight line keeps exactly the pixels of runs at least that long: the
        # erosion marks each run's first ``length`` pixels' start, the dilation spreads it back.
        edge = (free & beside).astype(np.uint8)
        starts = cv2.erode(edge, line, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out.append((cv2.dilate(starts, line, anchor=last, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0, axis))
    return out


def side_pieces(runs: list[tuple[NDArray[np.bool_], int]], colour: NDArray[np.int16]) -> list[NDArray[np.bool_]]:
    """The pieces of the straight ``runs`` (`straight_runs`) that each flood in one colour: each facing's
    runs (8-connected), parted where the colour steps by more than `SAME_COLOUR` to the next pixel
    along the run. One median over a side that turns a corner, or runs along a building's shaded and
    lit faces, is neither face's colour: the flood from it stopped at the first face (tuning seeds,
    character IoU: one piece per 8-connected side 0.7333, per facing 0.7339, parted at colour
    steps too 0.7344, false plain background 0.0412 -> 0.0393, missed as background 0.0489 the same)."""
    pieces: list[NDArray[np.bool_]] = []
    steps: dict[int, NDArray[np.bool_]] = {}  # per axis: two facings run along each
    for runs_of_facing, axis in runs:
        if not runs_of_facing.any():
            continue
        if axis not in steps:
            steps[axis] = np.abs(colour - np.roll(colour, -1, axis=axis)).sum(axis=2) > SAME_COLOUR
        parted = runs_of_facing & ~(steps[axis] & np.roll(runs_of_facing, -1, axis=axis))
        n, found = cv2.connectedComponents(parted.astype(np.uint8), connectivity=8)
        pieces.extend(np.asarray(found == piece) for piece in range(1, n))
    return pieces


def _flood(colour: NDArray[np.int16], free: NDArray[np.bool_], side: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The pixels of ``free`` 4-connected to ``side`` through pixels within `SAME_COLOUR` of the side's
    median colour."""
    median = np.median(colour[side], axis=0)
    same = free & (np.abs(colour - median).sum(axis=2) <= SAME_COLOUR)
    _, found = cv2.connectedComponents(same.astype(np.uint8), connectivity=4)
    regions = np.asarray(found, np.int32)
    touched = np.unique(regions[side & same])
    touched = touched[touched > 0]
    if not len(touched):
        return np.zeros(free.shape, bool)
    return np.asarray(np.isin(regions, touched))
