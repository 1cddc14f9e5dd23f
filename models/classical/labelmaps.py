"""Label-map helpers shared by the segmenter's grouping and its final masks: relabelling tracks as
characters, and giving a character the holes its outline encloses."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels

# One drawing's labels refined for the given character ids (`outline_snap.snap_drawing`, ...).
DrawingRefinement = Callable[[Image, Labels, Sequence[int]], Labels]

# OpenCV counts in float32, exact below 2**24 pixels (a 4K frame has 8.3 million).
_EXACT_COUNT = 1 << 24


def pixel_counts(labels: NDArray[np.uint8]) -> NDArray[np.int64]:
    """How many pixels hold each value 0..255 of a uint8 label map: `np.bincount` with
    ``minlength=256``, 1.7x cheaper on a 1080p map (OpenCV counts the bytes without widening
    them to 64 bits first)."""
    flat = np.ascontiguousarray(labels, np.uint8).reshape(-1, 1)
    if flat.size >= _EXACT_COUNT:
        return np.bincount(flat.ravel(), minlength=256)
    return cv2.calcHist([flat], [0], None, [256], [0, 256]).ravel().astype(np.int64)


def filled(mask: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The mask with every hole it encloses filled (flood fill of the outside from a padded border)."""
    h, w = mask.shape
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = mask
    flood = pad.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return np.asarray((pad[1:-1, 1:-1] > 0) | (flood[1:-1, 1:-1] == 0))


def closed_objects(
    labels: Labels, ids: Sequence[int], radius: int, max_share: float = 0.25,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Each object of ``ids`` made solid: its mask closed over gaps narrower than about
    ``2 * radius`` px (between hair strands, a collar's stripes, a glasses frame the mask cut) with
    the holes it then encloses filled, up to ``max_share`` of the object each (eyes, lenses; a
    larger one may be background seen between an arm and the body). Object by object: the
    background between two characters is not closed over. Returns the union of the solid masks,
    and of the enclosed holes alone."""
    solid, holes = np.zeros(labels.shape, bool), np.zeros(labels.shape, bool)
    h, w = labels.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    for oid in ids:
        own = labels == oid
        x, y, bw, bh = cv2.boundingRect(own.view(np.uint8))
        if bw == 0:
            continue
        # In the object's box grown by the kernel and a pixel: the closing's dilation stays inside,
        # and the flood of the outside goes round the object.
        at = np.s_[max(0, y - radius - 1):min(h, y + bh + radius + 1), max(0, x - radius - 1):min(w, x + bw + radius + 1)]
        sub = own[at].view(np.uint8)
        # Replicated border: at the frame's edge the closing neither grows nor shrinks the object.
        closed = cv2.morphologyEx(sub, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE) > 0
        inside = filled(closed.view(np.uint8)) & ~closed
        if inside.any():
            _n, comp, stats, _ = cv2.connectedComponentsWithStats(inside.view(np.uint8), connectivity=4)
            small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] <= max_share * int(sub.sum()))
            inside = np.isin(comp, small[small > 0])
            holes[at] |= inside
        solid[at] |= closed | inside
    return solid, holes


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


def refine_characters(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]],
                      refine: DrawingRefinement) -> list[Labels]:
    """Each drawing's ``labels`` through ``refine`` with the ids its ``kinds`` call characters; a drawing
    with none stays as it is. The segment stage's mask refinements over a shot share this loop."""
    out = []
    for image, lab, kind in zip(frames, labels, kinds, strict=True):
        characters = [k for k, v in kind.items() if v == "character"]
        out.append(refine(np.asarray(image), np.asarray(lab), characters) if characters else np.asarray(lab))
    return out
