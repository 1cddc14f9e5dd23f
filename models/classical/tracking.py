"""Carry a frame's objects into the next frame, each by its own motion.

Background subtraction sees two characters who stand close or cross as one blob; the frame before
knows which pixels were whose. The camera alone does not move them there: each character walks its
own way. `carry_labels` moves every object of the previous frame (already camera-compensated) by
its own translation, found by masked template matching of its pixels, and where two carried objects
overlap (one passing in front of the other) gives each pixel to the object whose carried colours
match the new frame there - the one in front is the one that is seen.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels

__all__ = ["carry_labels", "object_shift"]

# Template matching works on at most this many pixels per object (larger ones are matched at a
# coarser scale): a character's translation does not need every pixel.
MATCH_PIXELS = 6000
# Neighbourhood (px) over which overlapping objects' ownership is decided by majority.
SMOOTH = 9


def object_shift(prev_image: Image, mask: NDArray[np.bool_], image: Image, search: int) -> tuple[int, int]:
    """(dx, dy) that best moves ``prev_image``'s pixels under ``mask`` onto ``image`` (masked sum
    of squared differences over a window of +-``search`` px); (0, 0) when the mask is empty."""
    ys, xs = np.nonzero(mask)
    if ys.size < 16:
        return 0, 0
    h, w = mask.shape
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    f = min(1.0, float(np.sqrt(MATCH_PIXELS / ys.size)))
    sy0, sy1 = max(0, y0 - search), min(h, y1 + search)
    sx0, sx1 = max(0, x0 - search), min(w, x1 + search)
    tpl = prev_image[y0:y1, x0:x1].astype(np.float32)
    tmask = mask[y0:y1, x0:x1].astype(np.float32)
    area = image[sy0:sy1, sx0:sx1].astype(np.float32)
    if f < 1.0:
        def shrink(a: NDArray[np.float32]) -> NDArray[np.float32]:
            size = (max(1, round(a.shape[1] * f)), max(1, round(a.shape[0] * f)))
            return np.asarray(cv2.resize(a, size, interpolation=cv2.INTER_AREA), np.float32)
        tpl, tmask, area = shrink(tpl), shrink(tmask), shrink(area)
    if area.shape[0] < tpl.shape[0] or area.shape[1] < tpl.shape[1] or tmask.sum() < 4:
        return 0, 0
    tmask3 = np.repeat(tmask[..., None], 3, axis=2)
    score = cv2.matchTemplate(area, tpl, cv2.TM_SQDIFF, mask=tmask3)
    score = np.where(np.isfinite(score), score, np.inf)
    my, mx = np.unravel_index(int(np.argmin(score)), score.shape)
    # Positions in the (possibly shrunk) search window -> offset of the template's corner.
    return round(mx / f) + sx0 - x0, round(my / f) + sy0 - y0


def _shifted(a: NDArray[np.uint8], dx: int, dy: int) -> NDArray[np.uint8]:
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return np.asarray(cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_NEAREST), np.uint8)


def carry_labels(prev: Labels, prev_image: Image, image: Image, search: int) -> Labels:
    """The previous frame's labels moved into this frame, each object by its own translation.

    ``prev`` and ``prev_image`` are already in this frame's coordinates (camera-compensated);
    where carried objects overlap, each pixel goes to the one whose carried colour is nearest the
    frame's colour there.
    """
    ids = [int(i) for i in np.unique(prev) if i]
    out = np.zeros_like(prev)
    if not ids:
        return out
    best = np.full(prev.shape, np.inf, np.float32)
    img = image.astype(np.float32)
    for oid in ids:
        mask = prev == oid
        dx, dy = object_shift(prev_image, mask, image, search)
        moved = _shifted(mask.astype(np.uint8), dx, dy) > 0
        colours = _shifted(prev_image, dx, dy).astype(np.float32)
        # A small blur on the colour distance: line art a pixel off must not flip ownership.
        diff = cv2.blur(np.abs(img - colours).sum(axis=2), (5, 5))
        take = moved & (diff < best)
        out[take] = oid
        best[take] = diff[take]
    if len(ids) < 2:
        return out
    # Where two objects overlap, pixel colours tie on shared inks (outlines, shadows): each pixel
    # takes the object most of its neighbourhood went to, so ownership comes in regions, not specks.
    votes = np.stack([cv2.blur((out == oid).astype(np.float32), (SMOOTH, SMOOTH)) for oid in ids])
    lut = np.array(ids, np.uint8)
    return np.where(out > 0, lut[np.argmax(votes, axis=0)], 0).astype(np.uint8)
