"""A part of a character that the shot's other drawings hold is not dropped in a few drawings.

A character's masks in one shot come from each drawing on its own: GrabCut, then the grouping
rules that attach regions the drawing closes around (a hat on the head). One drawing can lose a
part the others keep: on onepiece_demo.mp4 (Luffy's close-up, drawings 103-109) three specks on the
top edge of his straw hat were other objects on the hat region's boundary, so the rule that puts a
hat on a head (`enclosure.attach_regions`, "no other object on its boundary") left the whole hat out
of those three drawings while the other nineteen held it; the clean plate then kept the hat, seen
as background in those drawings.

`restore_held_parts` compares each drawing with the `NEIGHBOURS` nearest other drawings of its
shot that show the same character. Each of them is brought into this drawing through the camera
and then the character's own motion (`tracking.object_shift`). A flat colour region of this drawing
(bounded by line art and colour edges, `enclosure.edges`) is held by such a drawing when that
drawing's moved mask covers `COVER` of it in the same colour (the same part, not the background the
mask moved over). A region that is not mostly another object's, lies beside the character, is at
most `MAX_SHARE` of its size and is held by at least `AGREE` of those drawings gets its free pixels
given to the character, with the line art around them (the outline is the character's up to its
outer edge). For a character that moves, the plate says what is background: a region that mostly
matches the plate there is not taken (a still character is burnt into the plate, which cannot tell).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.enclosure import edges
from models.classical.filters import colour_distance
from models.classical.tracking import object_shift

K3 = np.ones((3, 3), np.uint8)
NEIGHBOURS = 8  # the nearest drawings of the shot that show the character
AGREE = 0.5  # share of those drawings (of those that see the region) that must hold a region
TOLERANCE = 12.0  # Lab distance (uint8 Lab) under which two drawings show the same colour
# A drawing holds a region when its mask, moved, covers this share of the region's pixels in the
# same colour (a whole-character shift carries a turning head's hat only roughly: onepiece's later
# drawings cover 0.55-0.8 of the hat region of drawing 106, the drawings that lost it 0.04-0.07).
COVER = 0.5
MAX_SHARE = 0.5  # a region larger than this share of the character's mask here is no lost part
ROUNDS = 2  # a region that joined lets the next one beside it join (a hat's crown and its brim)


def restore_held_parts(
    labels: Sequence[Labels], images: Sequence[Image], warp: Callable[[int, int], NDArray[np.float64]],
    characters: Sequence[set[int]], search: int, keep_out: Sequence[NDArray[np.bool_] | None] | None = None,
    background: Sequence[NDArray[np.bool_]] | None = None, still: set[int] | None = None,
) -> list[Labels]:
    """``labels`` (one shot's grouped labels at model scale, with ``images`` its drawings) with the
    parts of each character that most of its nearest drawings hold put back where this drawing lost
    them (see the module docstring). ``warp(j, i)``: the 2x3 camera transform from drawing ``j``'s
    pixels into drawing ``i``'s; ``characters[i]``: the character ids of drawing ``i`` (effects and
    text are left alone); ``keep_out[i]``: pixels never taken (burnt-in text); ``background[i]``:
    where drawing ``i`` agrees with the plate, not taken for a character outside ``still``."""
    n = len(labels)
    labs = [np.asarray(cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2LAB), np.float32) for im in images]
    out = []
    for i in range(n):
        lab_i = np.asarray(labels[i])
        free = lab_i == 0
        out_here = keep_out[i] if keep_out is not None else None
        if out_here is not None:
            free &= ~out_here
        present = [c for c in sorted(characters[i]) if (lab_i == c).any()]
        if not present or not free.any():
            out.append(lab_i)
            continue
        barrier = edges(np.asarray(images[i]))
        count, comp_ = cv2.connectedComponents((~barrier).astype(np.uint8), connectivity=4)
        comp = np.asarray(comp_, np.int32)
        size = np.bincount(comp.ravel(), minlength=count)
        new = lab_i.copy()
        moved: dict[int, NDArray[np.uint8]] = {}  # drawing j brought into i by the camera: one warp for all characters
        for c in present:
            others = [j for j in range(n) if j != i and c in characters[j] and (np.asarray(labels[j]) == c).any()]
            others = sorted(others, key=lambda j: (abs(j - i), j))[:NEIGHBOURS]
            if len(others) < 2:
                continue
            # Regions that could join: free pixels in them, not mostly another object's, not too
            # large, not the plate's (a moving character), near the character.
            own = new == c
            near = cv2.dilate(own.astype(np.uint8), K3, iterations=search) > 0
            ok = (np.bincount(comp[(new > 0) & (new != c)], minlength=count) < 0.5 * size) \
                & (np.bincount(comp[free & (new == 0) & near], minlength=count) > 0) \
                & (size <= MAX_SHARE * int(own.sum()))
            if background is not None and (still is None or c not in still):
                ok &= np.bincount(comp[background[i]], minlength=count) < 0.5 * size
            ok[0] = False  # the line art itself is no region
            if not ok.any():
                continue
            held = _held_regions(i, c, others, labels, images, labs, warp, search, comp, ok, moved)
            new = _join(new, c, free, held, comp, barrier)
        out.append(new)
    return out


def _held_regions(
    i: int, c: int, others: list[int], labels: Sequence[Labels], images: Sequence[Image],
    labs: Sequence[NDArray[np.float32]], warp: Callable[[int, int], NDArray[np.float64]], search: int,
    comp: NDArray[np.int32], candidates: NDArray[np.bool_], moved: dict[int, NDArray[np.uint8]] | None = None,
) -> NDArray[np.bool_]:
    """Per flat region of drawing ``i`` (``comp``; only ``candidates`` are looked at): whether at
    least `AGREE` of drawings ``others`` (of those that see most of it) hold it: their mask of ``c``,
    moved by the camera and then by ``c``'s own motion, covers `COVER` of it in the same colour.
    ``moved``: drawings already brought into drawing ``i`` by the camera (by index; filled here),
    shared by the characters of drawing ``i``."""
    moved = {} if moved is None else moved
    h, w = labels[i].shape
    count = len(candidates)
    image_i = np.asarray(images[i])
    ys, xs = np.nonzero(candidates[comp])
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    box = (x1 - x0, y1 - y0)
    window = np.where(candidates[comp[y0:y1, x0:x1]], comp[y0:y1, x0:x1], 0)
    size = np.maximum(np.bincount(window.ravel(), minlength=count), 1)
    lab_i = labs[i][y0:y1, x0:x1]
    ones = np.ones((h, w), np.uint8)
    holding = np.zeros(count, np.int32)
    seeing = np.zeros(count, np.int32)
    for j in others:
        m = np.vstack([np.asarray(warp(j, i), np.float64)[:2], [0.0, 0.0, 1.0]])
        mine = (np.asarray(labels[j]) == c).astype(np.uint8)
        mask = cv2.warpAffine(mine, m[:2], (w, h), flags=cv2.INTER_NEAREST) > 0
        if j not in moved:
            moved[j] = np.asarray(cv2.warpAffine(np.asarray(images[j]), m[:2], (w, h), flags=cv2.INTER_LINEAR), np.uint8)
        img = moved[j]
        dx, dy = object_shift(img, mask, image_i, search)
        # Camera, then the character's own motion, then into the window: one warp each.
        mm = (np.array([[1.0, 0.0, dx - x0], [0.0, 1.0, dy - y0], [0.0, 0.0, 1.0]]) @ m)[:2]
        held = cv2.warpAffine(mine, mm, box, flags=cv2.INTER_NEAREST) > 0
        lab = np.asarray(cv2.warpAffine(labs[j], mm, box, flags=cv2.INTER_LINEAR), np.float32)
        inside = cv2.warpAffine(ones, mm, box, flags=cv2.INTER_NEAREST) > 0
        same = colour_distance(lab_i, lab) <= TOLERANCE
        sees = np.bincount(window[inside], minlength=count) >= 0.5 * size
        holds = np.bincount(window[held & same & inside], minlength=count) >= COVER * size
        seeing += sees
        holding += sees & holds
    return np.asarray(candidates & (seeing >= 2) & (holding >= AGREE * np.maximum(seeing, 1)))


def _join(labels: Labels, c: int, free: NDArray[np.bool_], held: NDArray[np.bool_], comp: NDArray[np.int32],
          barrier: NDArray[np.bool_]) -> Labels:
    """``labels`` with the free pixels of the flat regions beside ``c`` that ``held`` marks given to
    ``c``, with the line art around them (the outline is the character's up to its outer edge)."""
    out = labels.copy()
    free = free & (out == 0)
    ok = held.copy()
    for _ in range(ROUNDS):
        own = out == c
        near = cv2.dilate(own.astype(np.uint8), K3, iterations=5) > 0  # across its line art
        touching = np.zeros(len(ok), bool)
        touching[np.unique(comp[near])] = True
        take = ok & touching
        if not take.any():
            break
        add = take[comp] & free
        # The region's line art and edges (a few pixels wide once grown), where no object holds them.
        add |= barrier & free & (cv2.dilate(add.astype(np.uint8), K3, iterations=4) > 0)
        out[add] = c
        free &= ~add
        ok &= ~take
    return out
