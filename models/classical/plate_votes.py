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

import cv2
import numpy as np
from numpy.typing import NDArray

MATCHES = 2  # other sources whose masks cover the pixel and show the source's colour there
LEVELS = 6  # ... within this many levels, every channel (H.264 noise on a flat fill: 2-4)
JOIN = 2  # px: the run touches the source's own mask within this
MIN_PART = 3000  # px at 480 rows (scaled with the frame's area): a missed part, not a speck


def missed_parts(
    colours: NDArray[np.uint8], seen: NDArray[np.bool_], covered: NDArray[np.bool_],
    shape: tuple[int, int], at: NDArray[np.intp], rows: int,
) -> NDArray[np.bool_]:
    """Per source (rows of ``colours`` (n, P, 3), ``seen`` and ``covered`` (n, P)) and read pixel
    (flat positions ``at`` in a box of ``shape``, all in the target frame's coordinates), whether
    what the source sees there is a part of a character its mask missed. ``colours``: each source's
    (nearest) colour; ``seen``: where it shows background; ``covered``: where its mask covers the
    pixel; ``rows``: the frame's height (for `MIN_PART`)."""
    n = len(colours)
    out = np.zeros(seen.shape, bool)
    count = covered.sum(axis=0)
    wide = colours.astype(np.int16)
    least = MIN_PART * (rows / 480) ** 2
    disc = np.ones((2 * JOIN + 1, 2 * JOIN + 1), np.uint8)
    size = shape[0] * shape[1]
    for k in range(n):
        # Only where enough other masks cover the pixel can enough of them match.
        cand = np.flatnonzero(seen[k] & (count - covered[k] >= MATCHES))
        if len(cand) < least:
            continue
        hits = np.zeros(len(cand), np.int32)
        for j in range(n):
            if j == k:
                continue
            on = np.flatnonzero(covered[j, cand])
            hits[on] += np.abs(wide[k, cand[on]] - wide[j, cand[on]]).max(axis=1) <= LEVELS
        match = cand[hits >= MATCHES]
        if len(match) < least:
            continue
        img = np.zeros(size, np.uint8)
        img[at[match]] = 1
        own = np.zeros(size, np.uint8)
        own[at[covered[k]]] = 1
        runs_n, runs = cv2.connectedComponents(img.reshape(shape), connectivity=8)
        flat = runs.reshape(-1)
        touch = (cv2.dilate(own.reshape(shape), disc) > 0).reshape(-1) & (img > 0)
        keep = np.zeros(runs_n, bool)
        keep[np.unique(flat[touch])] = True
        keep &= np.bincount(flat, minlength=runs_n) >= least
        keep[0] = False
        out[k, match] = keep[flat[at[match]]]
    return out
