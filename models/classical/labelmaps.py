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
