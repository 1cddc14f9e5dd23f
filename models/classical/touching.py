"""Where two characters touch, the boundary between their objects lies on the line art between them.

Anime encloses each character in its own dark outline; where two touch, the front one's outline
divides them and every flat colour region on either side is wholly one character's. The segmenter's
boundary between two touching characters' objects often lies a few pixels off that line: a sliver
of one character's face, sleeve or hair on the other's object. `snap_to_line_art` gives each such
sliver the object that holds the rest of its flat region nearby.

Regions are taken near the boundary only (``reach``): the synthetic and real line art has gaps, and
a region followed further leaks into the other character's fill, so its majority says nothing. The
line pixels themselves are left as they are (giving them to their stroke's holder lost character IoU).
Only the boundary between two objects of ``ids`` moves: a mask's outline against the background is
another rule's.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.base import Image, Labels
from models.classical.filters import line_art

K3 = np.ones((3, 3), np.uint8)
MIN_REST = 4  # pixels of a region outside the strip, at least, to say who holds it


def snap_to_line_art(labels: Labels, image: Image, ids: set[int], band: int = 2, reach: int = 6,
                     share: float = 0.9) -> Labels:
    """``labels`` with the pixels within ``band`` px of a boundary between two objects of ``ids``
    given to the object that holds at least ``share`` of the rest of their flat region (bounded by
    line art, within ``reach`` px of that boundary); line art and other objects are left alone."""
    held = np.isin(labels, list(ids))
    if len(ids) < 2 or not held.any():
        return labels
    boundary = np.zeros(labels.shape, bool)
    for oid in ids:
        own = labels == oid
        if own.any():
            boundary |= own & (cv2.dilate((held & ~own).view(np.uint8), K3) > 0)
    if not boundary.any():
        return labels
    near = boundary.view(np.uint8)
    strip = (cv2.dilate(near, K3, iterations=band) > 0) & held
    around = (cv2.dilate(near, K3, iterations=reach) > 0) & held
    n, found = cv2.connectedComponents((around & ~line_art(image)).view(np.uint8), connectivity=4)
    regions = np.asarray(found, np.int64)
    # Each region's holder away from the boundary: the commonest object outside the strip.
    rest = (regions > 0) & ~strip
    counts = np.bincount(regions[rest] * 256 + labels[rest], minlength=n * 256).reshape(n, 256)
    holder = counts.argmax(axis=1)
    sure = counts.max(axis=1) >= share * np.maximum(counts.sum(axis=1), 1)
    sure &= counts.sum(axis=1) >= MIN_REST
    sure[0] = False
    target = np.where(sure, holder, 0)[regions]
    move = strip & (target > 0) & (target != labels)
    if not move.any():
        return labels
    out = labels.copy()
    out[move] = target[move]
    return out
