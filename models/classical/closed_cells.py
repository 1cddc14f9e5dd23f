"""A part of a character its mask missed in a drawing, closed by the drawing's line art, joins it.

A character that stands still burns its lower half into the segmenter's median plate, so a drawing's
mask can miss a flat part of it - a skirt between the shirt and the legs - though the drawing closes
that part with its outline. Per drawing, a cell of the picture (4-connected pixels outside every
object and off the line art) joins character ``k`` when

- it is closed: it does not reach the frame's border, and it is no larger than `MAX_SHARE` of ``k``'s mask;
- ``k``'s mask lies on both sides of most of it (`SANDWICHED` of its pixels have the mask within
  `BETWEEN` of the frame's short side above and below, or left and right): it lies between the
  character's parts, not beside them;
- or it is cut by the frame: it reaches the frame's border, ``k``'s mask holds `ENCLOSED` of the
  pixels within `RIM` px around it (off the line art, inside the frame), and it is no larger than
  ``k``'s mask. A character cut by the frame's edge (a medium shot's vest, skirt or coat) has such
  parts: what closes them is the character's outline and the frame; a cell beside the character
  (wall beyond its outline) has the wall around it, not the character. When the characters' masks
  together hold `ENCLOSED` of that rim and no one of them does (a front body with a character behind
  it, `shared_cuts`), the cell is the one's holding most of it;
- most of it (`COLOURED`) is in colours that ``k``'s masks over the whole shot show (`IN_PALETTE`
  of them, at least: the skirt is in the mask of the drawings that did not miss it) and that the
  background around ``k`` in this drawing hardly shows (under `RARE` of the ring of `AROUND`
  outside the mask, the cell itself left out): a wall cell closed by speed lines or by an arm is in
  the wall's colours.

Measured on the 10 tuning seeds of `benchmarks/segment_generated.py` (docs/results.md, "Round 19
(wt-U)"): without the palette test the wall cells cost as much as the parts gained.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.filters import line_art
from models.classical.outline_snap import AROUND
from models.classical.tracks import COLOUR_BINS, colour_index

MAX_SHARE = 0.5  # of the character's mask in the drawing
MIN_AREA = 10  # px: smaller cells are the line art's own specks
# Share of the frame's short side within which the mask lies on both sides of a cell's pixel (22 px
# at 216 p: a skirt's height). Tuning seeds, sandwiched share 0.3 / 0.5 / 0.8: character IoU
# 0.7289 / 0.7289 / 0.7285 (0.7281 / 0.7286 / - without the palette test).
BETWEEN = 0.1
SANDWICHED = 0.5
COLOURED = 0.5
# A colour the background ring around the mask shows over this share of its pixels is the wall's.
RARE = 0.005
# A colour under this share of the character's pixels over the shot is not its own (tuning seeds,
# 0.003 / 0.01 / 0.03: character IoU 0.7290 / 0.7289 / 0.7284, false plain background 0.0467 /
# 0.0466 / 0.0465 against 0.0465 without the rule).
IN_PALETTE = 0.01
# A cell the frame cuts is the character's part when the character's mask holds this share of the
# pixels within RIM px around it (the line art outside every object left out: RIM reaches past a 2-3 px
# outline to what lies beyond it). konobi_s01e007__000282.mp4 (three panels of one still boy cut by the
# frame's bottom edge): his vest, missed as such a cell, 0.87-1.0; the other frame-cut cells of 0.8 or
# more there that I looked at (5, in every fourth drawing) were parts of a boy too (arm skin, vest
# bits), which the colour test kept out.
ENCLOSED = 0.8
RIM = 3


def join_closed_cells(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's closed cells joined to the character whose parts lie on both
    sides of them (see the module docstring). Other kinds (text, effects) neither take nor lose pixels."""
    codes = [colour_index(np.asarray(image, np.uint8)) for image in frames]  # read by both passes
    palettes = shot_palettes(codes, labels, kinds)
    out = []
    for image, code, lab, kind in zip(frames, codes, labels, kinds, strict=True):
        characters = [k for k, v in kind.items() if v == "character" and k in palettes]
        out.append(join_drawing(np.asarray(image), code, np.asarray(lab), characters, palettes) if characters
                   else np.asarray(lab))
    return out


def shot_palettes(codes: Sequence[NDArray[np.uint16]], labels: Sequence[Labels],
                  kinds: Sequence[dict[int, str]]) -> dict[int, NDArray[np.float64]]:
    """Per character id, the share of each `colour_index` bin over its pixels in every drawing of the
    shot (``codes``: each drawing's `colour_index`)."""
    counts: dict[int, NDArray[np.int64]] = {}
    for code, lab, kind in zip(codes, labels, kinds, strict=True):
        for k in (k for k, v in kind.items() if v == "character"):
            own = np.asarray(lab) == k
            if own.any():
                counts[k] = counts.get(k, np.zeros(COLOUR_BINS, np.int64)) + np.bincount(code[own], minlength=COLOUR_BINS)
    return {k: c / max(1, int(c.sum())) for k, c in counts.items() if c.any()}


def join_drawing(image: Image, code: NDArray[np.uint16], labels: Labels, characters: Sequence[int],
                 palettes: dict[int, NDArray[np.float64]]) -> Labels:
    """One drawing's ``labels`` with its closed cells joined to ``characters`` (`join_closed_cells`;
    ``code``: the drawing's `colour_index`)."""
    out = np.array(labels, copy=True)
    free = (labels == 0) & ~line_art(image)
    n, found = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
    cells = np.asarray(found, np.int32)
    on_border = np.zeros(n, bool)
    on_border[np.unique(np.concatenate([cells[0], cells[-1], cells[:, 0], cells[:, -1]]))] = True
    area = np.bincount(cells.ravel(), minlength=n)
    reach = max(2, round(BETWEEN * min(labels.shape)))
    r = max(1, round(AROUND * min(labels.shape)))
    ring_disc = np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)), np.uint8)
    flat = cells[free]
    ink = ~free & (labels == 0)  # the line art outside every object
    shared = shared_cuts(cells, on_border & (area >= MIN_AREA), labels, characters, ink)
    for k in characters:
        own = out == k
        sandwiched = between(own, reach)
        share = np.bincount(flat, weights=sandwiched[free], minlength=n) / np.maximum(area, 1)
        sized = area >= MIN_AREA
        closed = ~on_border & sized & (area <= MAX_SHARE * int(own.sum())) & (share >= SANDWICHED)
        cut = on_border & sized & (area <= int(own.sum()))
        cut[0] = False
        for c in np.flatnonzero(cut):
            cut[c] = enclosure(cells, int(c), own, ink) >= ENCLOSED or shared.get(int(c)) == k
        # The cells the frame cuts after the closed ones, each kind with its own ring: a frame-cut
        # candidate the colour test refuses must not leave the ring and change the closed cells' test
        # (onepiece_demo.mp4, one ring for both: 5,272 px inside a subtitle's glyphs over Luffy's skin lost).
        for candidate in (closed, cut):
            candidate[0] = False
            if not candidate.any():
                continue
            in_cells = candidate[cells] & free
            ring = (cv2.dilate((out == k).astype(np.uint8), ring_disc) > 0) & (out == 0) & ~in_cells
            wall = np.bincount(code[ring], minlength=COLOUR_BINS) / max(1, int(ring.sum()))
            own_colour = (wall[code] < RARE) & (palettes[k][code] >= IN_PALETTE)
            coloured = np.bincount(flat, weights=own_colour[free], minlength=n) / np.maximum(area, 1)
            joins = (candidate & (coloured >= COLOURED))[cells] & free & (out == 0)
            out[joins] = k
    return out


def between(mask: NDArray[np.bool_], reach: int) -> NDArray[np.bool_]:
    """Pixels with ``mask`` within ``reach`` px on both sides of them, above and below or left and right."""
    def seen_before(m: NDArray[np.bool_], axis: int) -> NDArray[np.bool_]:
        pos = np.arange(m.shape[axis]).reshape((-1, 1) if axis == 0 else (1, -1))
        last = np.maximum.accumulate(np.where(m, pos, -(10**6)), axis=axis)  # the last mask pixel so far
        return np.asarray(pos - last <= reach)

    def both_sides(axis: int) -> NDArray[np.bool_]:
        return seen_before(mask, axis) & np.flip(seen_before(np.flip(mask, axis), axis), axis)

    return np.asarray(both_sides(0) | both_sides(1))


def shared_cuts(cells: NDArray[np.int32], candidates: NDArray[np.bool_], labels: Labels,
                characters: Sequence[int], ink: NDArray[np.bool_]) -> dict[int, int]:
    """Per frame-cut cell (``candidates``) that the characters' masks together enclose (`ENCLOSED` of
    its rim, `enclosure`) though no one of them does, the character holding most of its rim. A front
    character's body cut by the frame's bottom, with another character standing behind it, has both
    around it (layer-quality 404: its torso, 3,500-5,400 px, rim 0.49 / 0.44)."""
    chars = np.isin(labels, list(characters))
    out: dict[int, int] = {}
    for c in np.flatnonzero(candidates):
        if c == 0 or enclosure(cells, int(c), chars, ink) < ENCLOSED:
            continue
        shares = [enclosure(cells, int(c), labels == k, ink) for k in characters]
        if max(shares) < ENCLOSED:
            out[int(c)] = int(characters[int(np.argmax(shares))])
    return out


def enclosure(cells: NDArray[np.int32], cell: int, own: NDArray[np.bool_], ink: NDArray[np.bool_]) -> float:
    """The share of the pixels within `RIM` px around ``cell`` (inside the frame, off ``ink``: the
    line art outside every object) that ``own`` holds; other objects' pixels count against it."""
    ys, xs = np.nonzero(cells == cell)
    y0, y1 = max(0, int(ys.min()) - RIM), min(cells.shape[0], int(ys.max()) + RIM + 1)
    x0, x1 = max(0, int(xs.min()) - RIM), min(cells.shape[1], int(xs.max()) + RIM + 1)
    inside = (cells[y0:y1, x0:x1] == cell).astype(np.uint8)
    disc = np.ones((2 * RIM + 1, 2 * RIM + 1), np.uint8)
    rim = (cv2.dilate(inside, disc) > 0) & (inside == 0) & ~ink[y0:y1, x0:x1]
    total = int(rim.sum())
    return float(own[y0:y1, x0:x1][rim].sum()) / total if total else 0.0
