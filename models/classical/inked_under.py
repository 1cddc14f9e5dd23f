"""A close-up's body under the face, cut by the frame's bottom edge, that reaches past the face.

In a close-up the segment stage often finds only the head and a shoulder of a still character; the
shirt under them runs down out of the picture (no closed outline) and often sideways further than
anything found of the character (Luffy leaning into shot, his shirt out to the frame's corner), so
`enclosure._under_cut`, which asks the region to lie within the columns of the character's lower
half, leaves it out. What tells such a region from the background beside the character in anime
is how it is drawn: a character is a cel, its regions are bounded by dark line art; a painted
background (a wall, a crate, the sky) meets the character but has no ink line of its own around
it. `inked_under` takes a region under the character whose edge against everything that is not
the character is such a line, thin (what lies beyond it is not dark: not a night scene's dark).
The caller still asks the region's colour to be unlike the background around the character.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image

K3 = np.ones((3, 3), np.uint8)
Mask = NDArray[np.bool_]
INK = 70  # grey level of line art: darker than this


def inked_under(region: Mask, y0: int, x0: int, image: Image, own: Mask, rows: NDArray[np.intp],
                ink: float = 0.7, beyond: float = 0.5) -> bool:
    """Whether ``region`` (a crop at ``y0``, ``x0`` of ``image``) is on the frame's bottom row, below
    the middle row of the character ``own`` (rows ``rows``), and outlined in line art wherever it
    does not meet the character: at least ``ink`` of the three pixels just outside it (away from the
    character and the frame's border) lie within two pixels of a dark one, and less than ``beyond``
    of the band six to ten pixels out is dark."""
    h, w = own.shape
    if not region[-1].any() or y0 + region.shape[0] < h:  # not on the frame's bottom row
        return False
    ry, _ = np.nonzero(region)
    if ry.min() + y0 < int(rows[0] + 0.5 * (rows[-1] - rows[0] + 1)):  # beside the head, not under it
        return False
    pad = 10
    a0, b0 = max(0, y0 - pad), max(0, x0 - pad)
    a1, b1 = min(h, y0 + region.shape[0] + pad), min(w, x0 + region.shape[1] + pad)
    reg = np.zeros((a1 - a0, b1 - b0), np.uint8)
    reg[y0 - a0 : y0 - a0 + region.shape[0], x0 - b0 : x0 - b0 + region.shape[1]] = region
    # Away from the character (as far as the caller counts a ring pixel as its) and the frame's border.
    free = cv2.dilate(own[a0:a1, b0:b1].astype(np.uint8), K3, iterations=5) == 0
    inner = np.zeros(reg.shape, bool)
    inner[1 if a0 == 0 else 0 : reg.shape[0] - (1 if a1 == h else 0), 1 if b0 == 0 else 0 : reg.shape[1] - (1 if b1 == w else 0)] = True
    free &= inner
    # The band just outside the region (its grown edge lies between it and the line); each of its
    # pixels within two of a dark one. Beyond the line (six to ten pixels out), not dark.
    near = (cv2.dilate(reg, K3, iterations=3) > 0) & (reg == 0) & free
    far = (cv2.dilate(reg, K3, iterations=10) > 0) & ~(cv2.dilate(reg, K3, iterations=6) > 0) & free
    if int(near.sum()) < 10 or int(far.sum()) < 10:
        return False
    dark = cv2.cvtColor(np.ascontiguousarray(image[a0:a1, b0:b1]), cv2.COLOR_RGB2GRAY) < INK
    inked = cv2.dilate(dark.astype(np.uint8), K3, iterations=2) > 0
    return float(inked[near].mean()) >= ink and float(dark[far].mean()) < beyond
