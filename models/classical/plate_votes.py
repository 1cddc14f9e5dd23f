"""Which source pixels may vote for a clean plate: a part of a character that one frame's mask
missed is no background there.

Stage-1 masks miss parts of characters in some drawings (on onepiece_demo.mp4 the masks of frames
103-109 leave out most of Luffy's hat, which later drawings' masks hold). A source frame whose mask
missed the part "sees background" there, and the stitch (`models.classical.inpaint`) pasted the part
into every other frame's plate, marked as seen in another frame. Anime fills are flat, so the part
shows the very colours other frames' masks hold at the same place: a source pixel is not taken as
background when at least `MATCHES` other sources whose masks cover the pixel show its colour there
(within `LEVELS`, every channel), and it lies in a run of such pixels that touches the source's own
mask (within `JOIN` px) and is at least `MIN_PART` px large (a hat, a sleeve: not a speck of a
background colour that happens to equal a character's fill). Where no other source shows the
background the pixel is then invented (and says so) instead of stitched.

Both size and tolerance matter on generated shots over real anime backgrounds with true masks (where
every such drop is a loss): flat skin beside a wall of the same tone matched within 16 levels, and
runs of 200-800 px did (plate PSNR with true masks on seed 404 fell 1.3-2.8 dB); at 6 levels and
3000 px no figure with true masks moves.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

MATCHES = 2  # other sources whose masks cover the pixel and show the source's colour there
LEVELS = 6  # ... within this many levels, every channel (H.264 noise on a flat fill: 2-4)
JOIN = 2  # px: the run touches the source's own mask within this
MIN_PART = 3000  # px at 480 rows (scaled with the frame's area): a missed part, not a speck


def missed_parts(
    colours: Callable[[NDArray[np.intp]], NDArray[np.uint8]], seen: NDArray[np.bool_], covered: NDArray[np.bool_],
    shape: tuple[int, int], at: NDArray[np.intp], rows: int,
) -> NDArray[np.bool_]:
    """Per source (rows of ``seen`` and ``covered`` (n, P)) and read pixel (flat positions ``at`` in a
    box of ``shape``, all in the target frame's coordinates), whether what the source sees there is a
    part of a character its mask missed. ``colours(idx)``: each source's (nearest) colour at the read
    pixels ``idx`` (n, len(idx), 3), asked once, for the pixels some source may need; ``seen``: where
    it shows background; ``covered``: where its mask covers the pixel; ``rows``: the frame's height
    (for `MIN_PART`).

    A missed part is a run of matching pixels inside a run of candidates (seen, and covered by
    `MATCHES` other masks), so candidates in runs that do not touch the source's mask or are smaller
    than `MIN_PART` are dropped before any colour is read or compared: the same answer, mostly
    without the comparisons (every source against every other at every candidate pixel)."""
    n = len(seen)
    out = np.zeros(seen.shape, bool)
    count = covered.sum(axis=0)
    # Covered by MATCHES masks besides the source's own (bool tests: no count minus the source's).
    enough, more = count >= MATCHES, count > MATCHES
    least = MIN_PART * (rows / 480) ** 2
    disc = np.ones((2 * JOIN + 1, 2 * JOIN + 1), np.uint8)
    size = shape[0] * shape[1]
    todo: list[tuple[int, NDArray[np.intp], NDArray[np.bool_]]] = []
    for k in range(n):
        # Only where enough other masks cover the pixel can enough of them match.
        cand = np.flatnonzero(seen[k] & np.where(covered[k], more, enough))
        if len(cand) < least:
            continue
        own = np.zeros(size, np.uint8)
        own[at] = covered[k]
        near = (cv2.dilate(own.reshape(shape), disc) > 0).reshape(-1)
        cand = cand[_joined(cand, near, shape, at, least)]
        if len(cand) >= least:
            todo.append((k, cand, near))
    if not todo:
        return out
    # The colours of every source where some source is a candidate, as planes (channel, source, pixel).
    union = np.zeros(seen.shape[1], bool)
    for _, cand, _ in todo:
        union[cand] = True
    wanted = np.flatnonzero(union)
    planes = np.ascontiguousarray(colours(wanted).transpose(2, 0, 1))
    where = np.zeros(seen.shape[1], np.intp)
    where[wanted] = np.arange(len(wanted))
    for k, cand, near in todo:
        pick = where[cand]
        mine = planes[:, k, pick]
        # Within LEVELS on every channel, as bounds on the others' values (no sign, no wrap).
        lo = np.maximum(mine, LEVELS) - LEVELS
        hi = np.minimum(mine, 255 - LEVELS) + LEVELS
        others = covered[:, cand]
        others[k] = False
        for c in range(3):
            theirs = planes[c][:, pick]
            others &= theirs >= lo[c]
            others &= theirs <= hi[c]
        match = cand[np.count_nonzero(others, axis=0) >= MATCHES]
        if len(match) >= least:
            out[k, match] = _joined(match, near, shape, at, least)
    return out


def _joined(
    idx: NDArray[np.intp], near: NDArray[np.bool_], shape: tuple[int, int], at: NDArray[np.intp], least: float,
) -> NDArray[np.bool_]:
    """Of the read pixels ``idx``, those in an 8-connected run of them (in the box of ``shape``) that
    has a pixel ``near`` the source's mask and at least ``least`` pixels."""
    pos = at[idx]
    img = np.zeros(shape[0] * shape[1], np.uint8)
    img[pos] = 1
    runs_n, runs = cv2.connectedComponents(img.reshape(shape), connectivity=8)
    # Each of the pixels is one labelled pixel of the image (label 0 is the rest, none of them).
    label = runs.reshape(-1)[pos]
    keep = np.zeros(runs_n, bool)
    keep[label[near[pos]]] = True
    keep &= np.bincount(label, minlength=runs_n) >= least
    return keep[label]
