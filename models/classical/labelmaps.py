"""Label-map helpers shared by the segmenter's grouping and its final masks: relabelling tracks as
characters, and giving a character the holes its outline encloses."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Labels


def filled(mask: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The mask with every hole it encloses filled (flood fill of the outside from a padded border)."""
    h, w = mask.shape
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = mask
    flood = pad.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return np.asarray((pad[1:-1, 1:-1] > 0) | (flood[1:-1, 1:-1] == 0))


def relabel(labels: Labels, mapping: dict[int, int]) -> Labels:
    """Apply a track -> character map to one frame's labels."""
    lut = np.zeros(256, np.uint8)
    for a, b in mapping.items():
        lut[a] = b
    return np.asarray(lut[labels], np.uint8)


def fill_holes(labels: Labels, keep_out: NDArray[np.bool_] | None = None, background: NDArray[np.bool_] | None = None,
               max_share: float = 0.25) -> Labels:
    """Give each object the holes it encloses (eye whites, teeth, lens interiors).

    A hole stays open when it is large (over ``max_share`` of the object), when most of it is
    ``background`` (the plate seen through the character, e.g. between an arm and the body), or on
    ``keep_out`` pixels (subtitle text is never part of a character).
    """
    out = labels.copy()
    for oid in np.unique(labels):
        if oid == 0:
            continue
        own = (labels == oid).astype(np.uint8)
        holes = filled(np.asarray(own, np.uint8)) & (labels == 0)
        if not holes.any():
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
        area = int(own.sum())
        for c in range(1, n):
            if stats[c, cv2.CC_STAT_AREA] > max_share * area:
                continue
            hole = comp == c
            if background is not None and float(background[hole].mean()) > 0.5:
                continue
            if keep_out is not None:
                hole &= ~keep_out
            out[hole] = oid
    return out


def streaks(mask: NDArray[np.uint8], thickness: int = 5, min_length: float = 0.03) -> NDArray[np.bool_]:
    """Horizontal streaks stuck to a mask: runs thinner than ``thickness`` px that stretch at least
    ``min_length`` of the frame's width and four times their own height.

    Speed lines and light streaks drawn across a character's place differ from the plate as much
    as the character does, and GrabCut keeps the stretch that touches it; a character's own thin
    parts (legs, strands of hair, outlines) hang or run down, and its outstretched arms are
    thicker than a speed line.
    """
    kernel = np.ones((thickness, 1), np.uint8)
    thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel) > 0
    thin = (mask > 0) & ~thick
    _, comp, stats, _ = cv2.connectedComponentsWithStats(thin.astype(np.uint8), connectivity=8)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    long = (w >= min_length * mask.shape[1]) & (w >= 4 * h)
    long[0] = False
    for c in np.flatnonzero(long):
        # Straight: a speed line's rotated box is as thin as the line. The curved rim of a hat or
        # a sleeve is thin too, but its arc makes the box deep (a real clip lost a hat's rim).
        x, y, bw, bh = (int(v) for v in stats[c, :4])
        pts = cv2.findNonZero((comp[y : y + bh, x : x + bw] == c).astype(np.uint8))
        (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
        # A line held by the mask at both ends is the character's own (the outline along a flat
        # body whose middle the plate could not tell): a speed line runs out of it, one end free.
        ya, yb = max(0, y - 2), y + bh + 2
        held = thick[ya:yb, max(0, x - 2) : x + 1].any() and thick[ya:yb, max(0, x + bw - 1) : x + bw + 2].any()
        long[c] = min(rw, rh) <= thickness + 1 and not held
    return np.asarray(long[comp])
