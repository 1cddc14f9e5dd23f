"""A character's own drawn fills that the effects stage read as light (highlights, redrawn teeth).

Inside a character's mask, light is read against the same drawing as neighbouring frames show it.
Where a part is redrawn (a mouth opened over the teeth, a glint moved on the eye, a tongue's edge), the
new drawing's flat fill is brighter than the old one under it and reads as light: thin slivers of
white or of the fill's own colour, ending on one side at a drawn edge (line art, the next fill) and on
the other where the same fill goes on unlit. Additive light does not do that: where its strength
falls, the frame falls with it (a soft edge), and a pixel it brightens is not the colour of the unlit
fill beside it. `drawn_fills` finds groups of light whose pixels the frame itself shows, unlit, within
a few pixels, with a hard edge and a drawn edge round them. Clipped pixels are left out of that test:
a spark over a white coat is as white as the coat beside it.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask, SoftMap
from models.classical.morphology import grown_box

LIT = 0.25  # light the layer counts (the eval's threshold)
FAINT = 0.1  # light a group is joined through (`CLOSE`), so a sliver's faint ends stay in it
UNLIT = 0.02  # an unlit pixel: no light read there at all
CLOSE = 5  # px: holes and gaps in a group of light smaller than this are part of it
CLIPPED = 250  # a channel this bright: light and a white fill look the same there


def _same_fill_unlit(image: NDArray[np.int16], lit: Mask, unlit: Mask, reach: int, tol: float) -> Mask:
    """The pixels of ``lit`` whose colour (every channel within ``tol``) an ``unlit`` pixel within
    ``reach`` px shows (8-neighbourhood square, the pixel itself left out)."""
    ys, xs = np.nonzero(lit)
    out = np.zeros(lit.shape, bool)
    if not len(ys):
        return out
    h, w = lit.shape
    colour = image[ys, xs]
    hit = np.zeros(len(ys), bool)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy == 0 and dx == 0:
                continue
            y2 = np.clip(ys + dy, 0, h - 1)
            x2 = np.clip(xs + dx, 0, w - 1)
            hit |= unlit[y2, x2] & (np.abs(image[y2, x2] - colour).max(axis=1) <= tol)
    out[ys[hit], xs[hit]] = True
    return out


def drawn_fills(image: Image, strength: SoftMap, mask: Mask, reach: int = 3, tol: float = 16.0,
                share: float = 0.5, soft: float = 0.1, edge: float = 48.0, edge_share: float = 0.2) -> Mask:
    """Where the light ``strength`` inside the character ``mask`` is the character's own fill.

    A group of light at `LIT` inside the mask eroded by 1 px (closed by `CLOSE` px) is a drawn fill when
    - at least ``share`` of its pixels are unclipped and have the colour (within ``tol`` levels in every
      channel) of an unlit pixel of the mask within ``reach`` px (the same fill, unlit);
    - its edge is hard: the mean strength in the 2 px ring round it, inside the mask, is under ``soft``
      of its own (additive light fades: a glow or a spark's halo keeps half of it or more);
    - ``edge_share`` of that ring differs from the group's median colour by ``edge`` levels or more in
      some channel (a drawn edge bounds it; a patch of a wide glow lies in smooth colour).
    Returns the groups grown by 1 px (their soft rim), inside the mask."""
    m = np.asarray(mask, bool)
    inner = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    lit = (strength >= LIT) & inner
    found = np.zeros(m.shape, bool)
    at = grown_box(lit, reach + CLOSE + 3)
    if at is None:
        return found
    s, mb, lb = strength[at], m[at], lit[at]
    im = np.asarray(image[at], np.int16)
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CLOSE, CLOSE))
    body = cv2.morphologyEx((s >= FAINT).astype(np.uint8), cv2.MORPH_CLOSE, close) > 0
    unlit = (s < UNLIT) & mb & ~body
    same = _same_fill_unlit(im, lb, unlit, reach, tol) & (im.max(axis=2) < CLIPPED)
    groups = cv2.morphologyEx(lb.astype(np.uint8), cv2.MORPH_CLOSE, close) & mb.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(groups, connectivity=8)
    ring_kernel = np.ones((5, 5), np.uint8)
    grow = np.ones((3, 3), np.uint8)
    out = found[at]
    for g in range(1, n):
        gx, gy, gw, gh = (int(v) for v in stats[g, :4])
        # The group's own box, with room for its 2 px ring and the 1 px it is grown by.
        by0, by1, bx0, bx1 = max(0, gy - 3), min(s.shape[0], gy + gh + 3), max(0, gx - 3), min(s.shape[1], gx + gw + 3)
        bo = np.s_[by0:by1, bx0:bx1]
        sel = labels[bo] == g
        core = sel & lb[bo]
        if not core.any() or same[bo][core].mean() < share:
            continue
        ring = (cv2.dilate(sel.astype(np.uint8), ring_kernel) > 0) & ~sel & mb[bo]
        if not ring.any():
            continue
        sg = s[bo]
        if sg[ring].mean() >= soft * sg[core].mean():
            continue
        colour = np.median(im[bo][core], axis=0)
        if np.mean(np.abs(im[bo][ring] - colour).max(axis=1) >= edge) < edge_share:
            continue
        out[bo] |= cv2.dilate(sel.astype(np.uint8), grow) > 0
    found[at] = out & mb
    return found
