"""A shot's palette of character fills: light over a character is no fill colour.

A character is painted in flat fills that recur through a shot, frame after frame; additive light
moves a fill's colour along the light's colour by a strength that changes from pixel to pixel and from
frame to frame (a glow's halo, a fade), so lit colours are spread thin where the fills are peaks. A
pixel over a character whose colour is one of the shot's most frequent fills is that fill, not light:
the false light over characters (a redrawn mouth, a turned head measured against the neighbouring
frames) is mostly such fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask

SHIFT = 3  # colours are counted in bins of 8 levels per channel
BINS = 256 >> SHIFT


@dataclass
class Palette:
    """A shot's character colours: per bin (``BINS ** 3``, `colour_keys`) the pixels in it and in the
    26 bins round it (a fill near a bin's edge falls into two bins), and how many pixels were counted."""

    counts: NDArray[np.float32]
    total: int

    def share(self, pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The share of the counted pixels whose colour lies in the bin of each of ``pixels`` (..., 3)
        or round it."""
        return np.asarray(self.counts[colour_keys(pixels)] / max(self.total, 1), np.float32)


def colour_keys(pixels: NDArray[np.uint8]) -> NDArray[np.int64]:
    """The bin of each colour (..., 3) -> (...)."""
    q = (np.asarray(pixels, np.uint8) >> SHIFT).astype(np.int64)
    return np.asarray((q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2])


def inner(mask: Mask) -> NDArray[np.bool_]:
    """``mask`` eroded by 1 px: a character's outline blends with what lies behind it."""
    return np.asarray(cv2.erode(np.asarray(mask, np.uint8), np.ones((3, 3), np.uint8)) > 0)


def shot_palette(frames: Sequence[Image], masks: Sequence[Mask]) -> Palette | None:
    """The palette of the pixels inside the characters' masks (`inner`) over ``frames``; None when
    the masks hold none."""
    hist = np.zeros(BINS**3, np.float32)
    total = 0
    for f, m in zip(frames, masks, strict=True):
        where = inner(m)
        if where.any():
            k = colour_keys(np.asarray(f, np.uint8)[where])
            hist += np.bincount(k, minlength=BINS**3).astype(np.float32)
            total += len(k)
    if total == 0:
        return None
    box = hist.reshape(BINS, BINS, BINS)
    for axis in range(3):  # the 3x3x3 box sum, one axis at a time
        s = box.copy()
        lo: list[slice] = [slice(None)] * 3
        hi: list[slice] = [slice(None)] * 3
        lo[axis], hi[axis] = slice(1, None), slice(None, -1)
        s[tuple(lo)] += box[tuple(hi)]
        s[tuple(hi)] += box[tuple(lo)]
        box = s
    return Palette(np.asarray(box.ravel(), np.float32), total)
