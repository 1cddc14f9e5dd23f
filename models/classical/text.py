"""Burnt-in subtitles and on-screen text, found by how they are drawn rather than by what moves.

Subtitles are light glyphs (white or yellow) with a dark outline or shadow, a row of similar-sized
glyphs in a band at the bottom (sometimes the top) of the picture. Per frame, at a working height of
about 480 px:

1. glyph strokes: light pixels (high value, low saturation or a yellow hue) that are thin and
   brighter than their surroundings (a white top-hat about 3% of the frame height wide) and whose
   rim largely meets dark pixels (an outline or a drop shadow) - cel-shaded whites (eyes, teeth, a
   shirt) are broad or bordered by colour;
2. a text line: glyph boxes merged sideways over a glyph's spacing into a row at least four times
   as wide as it is high, holding at least three glyphs, in the top or bottom band, and close to half
   of them standing on one level (a shared top or bottom: a baseline, a CJK em box); a shorter line
   (a label, a caption: "Input", a name) only when it sits in a box of one flat colour of its own
   (`label_box`), and then the whole box is text;
3. the mask: the line's glyph strokes grown over their outline.

The mask is independent of motion, so a subtitle burnt into a still shot's background is found as
well as one over a moving character. The segment stage takes these pixels out of every character and gives
them one track of kind ``text`` per shot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image

WORK_HEIGHT = 480
ALIGNED = 0.45  # share of a line's glyphs that share its top or its bottom


def text_scale(shape: tuple[int, ...]) -> float:
    """Scale of the working picture: text is found at about 480 px high (never enlarged)."""
    return min(1.0, WORK_HEIGHT / shape[0])


def text_mask(image: Image, bottom: float = 0.25, top: float = 0.15, min_glyphs: int = 3) -> NDArray[np.bool_]:
    """Pixels of burnt-in text at working scale (`text_scale`); all False when there is none.

    ``bottom`` and ``top``: the shares of the frame height where subtitle lines may lie.
    """
    s = text_scale(image.shape)
    small = image if s == 1.0 else cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    out = np.zeros((h, w), bool)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    value, sat, hue = hsv[..., 2], hsv[..., 1], hsv[..., 0]
    # White, or yellow (OpenCV hue 20-35 of 180), the two usual subtitle fills.
    light = (value >= 185) & ((sat <= 70) | ((hue >= 20) & (hue <= 35) & (sat >= 100)))
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    dark = grey <= 135  # outlines and drop shadows are often dark grey, not black
    band = np.zeros((h, w), bool)
    band[int((1 - bottom) * h):] = True
    band[: int(top * h)] = True
    light &= band
    if light.sum() < 12:
        return out
    # Thin and brighter than what is around it: a white top-hat wider than any stroke keeps glyph
    # strokes (also over a light wall) and drops broad whites (teeth, a shirt, the sky).
    k = max(7, int(0.03 * h) | 1)
    tophat = cv2.morphologyEx(value, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    light &= tophat >= 70
    near_dark = cv2.dilate(dark.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    n, comp, stats, _ = cv2.connectedComponentsWithStats(light.astype(np.uint8), connectivity=8)
    # Per component: the share of its rim that meets dark pixels (an outline or a drop shadow).
    rim = light & ~(cv2.erode(light.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    rim_n = np.bincount(comp[rim], minlength=n).astype(np.float32)
    rim_dark = np.bincount(comp[rim & near_dark], minlength=n).astype(np.float32)
    ch, cw, area = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_AREA]
    glyph = (
        (rim_dark >= 0.4 * np.maximum(rim_n, 1)) & (area >= 3)
        & (ch <= 0.09 * h) & (cw <= 0.12 * h) & (np.maximum(ch, cw) >= 0.012 * h)
    )
    glyph[0] = False
    if glyph.sum() < min_glyphs:
        return out
    region = np.zeros((h, w), bool)
    boxed = np.zeros((h, w), bool)  # labels' boxes: text as a whole
    spacing = max(3, int(0.03 * h))
    for y0, y1 in _text_rows(stats[glyph], h, min_glyphs):
        # Within the row: glyphs closer than three row heights are one subtitle line.
        inside = [c for c in np.flatnonzero(glyph) if y0 <= stats[c, 1] + stats[c, 3] / 2 < y1]
        spans = sorted((int(stats[c, 0]), int(stats[c, 0] + stats[c, 2]), int(c)) for c in inside)
        segments: list[tuple[int, int, list[int]]] = []
        for x0, x1, c in spans:
            if segments and x0 - segments[-1][1] <= 3 * (y1 - y0):
                segments[-1] = (segments[-1][0], max(segments[-1][1], x1), [*segments[-1][2], c])
            else:
                segments.append((x0, x1, [c]))
        for x0, x1, members in segments:
            # A subtitle line: long (four line heights or more), about a glyph per two line heights
            # along it, its middle in a band and clear of the frame edge (pieces of a picture that
            # touch the edge are cut by the frame, subtitles never).
            lh, mid, count = y1 - y0, (y0 + y1) / 2, len(members)
            in_band = mid >= (1 - bottom) * h or mid <= top * h
            clear = y0 >= 1 and y1 <= h - 1
            # Glyphs fill most columns of a line; a few thin highlights (hair, an edge) do not.
            cols = float(light[y0:y1, x0:x1].any(axis=0).mean()) if x1 > x0 else 0.0
            # Glyphs stand on one baseline (or fill one em box: CJK); pieces of a picture caught in
            # a row (a shirt's folds and buttons, a pillow's creases) have scattered tops and bottoms.
            level = _aligned(np.asarray(stats[members], np.int32), max(2, round(0.005 * h)))
            if not (in_band and clear and cols >= 0.5 and count >= max(min_glyphs, 0.5 * (x1 - x0) / lh)
                    and level >= max(min_glyphs, ALIGNED * count)):
                continue
            if x1 - x0 >= 4 * lh:
                pad = max(2, round(0.008 * h))  # the outline around the glyph boxes
                region[max(0, y0 - pad) : y1 + pad, max(0, x0 - spacing) : x1 + spacing] = True
            else:
                # A short line (a label, a caption) is text when it sits in a box of its own; its
                # rows are its own glyphs' (the row's span may have grown to a piece elsewhere).
                own = stats[members]
                ly0, ly1 = int(own[:, 1].min()), int((own[:, 1] + own[:, 3]).max())
                box = label_box(small, light, ly0, ly1, x0, x1) if x1 - x0 >= 1.5 * (ly1 - ly0) else None
                if box is not None:
                    by0, by1, bx0, bx1 = box
                    region[by0:by1, bx0:bx1] = boxed[by0:by1, bx0:bx1] = True
    if not region.any():
        return out
    # Every thin light piece in a kept row is text, also those too small (or too merged with a light
    # background) to count as a glyph.
    # (Strokes are thin: every pixel of one is within two pixels of its outline.)
    strokes = region & light & (cv2.dilate(dark.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    # The outline: dark pixels hugging the strokes (a couple of pixels at 480 px).
    grow = max(1, round(0.005 * h))
    ring = cv2.dilate(strokes.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=grow + 1) > 0
    out = strokes | (ring & (grey <= 140))
    out = cv2.dilate(out.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # Only around the lines found: line art of a character just above them is not their outline.
    return np.asarray((out & region) | boxed)


def label_box(image: NDArray[Any], light: NDArray[np.bool_], y0: int, y1: int, x0: int, x1: int,
              flat: float = 0.85, tol: int = 24) -> tuple[int, int, int, int] | None:
    """The box (y0, y1, x0, x1) around a short line of glyphs (rows ``y0:y1``, columns ``x0:x1``)
    when it has one, else None.

    On-screen labels and captions too short to be a subtitle line (a name, a place, "Input") sit
    in a box or band of one flat colour of their own: around the glyphs (``light``, grown over their
    anti-aliased rim) at least ``flat`` of the line's pixels are one colour (within ``tol``), and
    that colour ends on every side within a line height above and below and three line heights
    beside the line (or at the frame's edge), with at most a fifth of the two pixels around the
    box in it. A dark wall, hair or a night sky around light specks in a row goes on further, a
    patch of a coat goes on beside its edges: no box."""
    h, w = light.shape
    lh = y1 - y0
    glyphs = cv2.dilate(light.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    rect = image[y0:y1, x0:x1].reshape(-1, 3)
    ground = ~glyphs[y0:y1, x0:x1].reshape(-1)
    if int(ground.sum()) < lh:
        return None
    colour = np.median(rect[ground], axis=0)
    same = np.abs(image.astype(np.int16) - colour.astype(np.int16)).max(axis=2) <= tol
    if float(same[y0:y1, x0:x1].reshape(-1)[ground].mean()) < flat:
        return None
    inside = same | glyphs  # the box's own pixels: its colour, or the glyphs on it

    def grow(lo: int, hi: int, a: int, b: int, step: int, limit: int, rows: bool) -> int | None:
        # Move the side at ``lo`` (row or column) outward by ``step`` while the strip across
        # ``a:b`` is the box's; None when it has not ended within ``limit`` strips.
        edge = lo
        for _ in range(limit + 1):
            nxt = edge + step
            if nxt < 0 or nxt >= hi:
                return edge  # the frame's edge ends it
            strip = inside[nxt, a:b] if rows else inside[a:b, nxt]
            if float(strip.mean()) < 0.5:
                return edge  # the box ends here
            edge = nxt
        return None

    top = grow(y0, h, x0, x1, -1, lh, True)
    bottom = grow(y1 - 1, h, x0, x1, 1, lh, True)
    if top is None or bottom is None:
        return None
    left = grow(x0, w, top, bottom + 1, -1, 3 * lh, False)
    right = grow(x1 - 1, w, top, bottom + 1, 1, 3 * lh, False)
    if left is None or right is None:
        return None
    # A drawn box: its colour stops at its sides (a patch of a coat or of hair goes on beside them).
    b0, b1, c0, c1 = top, bottom + 1, left, right + 1
    outer = np.zeros((h, w), bool)
    outer[max(0, b0 - 2) : b1 + 2, max(0, c0 - 2) : c1 + 2] = True
    outer[b0:b1, c0:c1] = False
    if outer.any() and float(inside[outer].mean()) > 0.2:
        return None
    return b0, b1, c0, c1


def _aligned(boxes: NDArray[np.int32], tol: int) -> int:
    """The most glyphs (x, y, w, h, area rows) whose tops, or whose bottoms, lie within ``tol`` of
    one another's."""
    best = 0
    for edge in (boxes[:, 1], boxes[:, 1] + boxes[:, 3]):
        e = np.sort(edge.astype(np.int64))
        # For each glyph, how many edges lie in [e, e + tol]: a sliding window over the sorted edges.
        best = max(best, int((np.searchsorted(e, e + tol, side="right") - np.arange(len(e))).max(initial=0)))
    return best


def _text_rows(boxes: NDArray[np.int32], h: int, min_glyphs: int) -> list[tuple[int, int]]:
    """Row spans (y0, y1) of text lines from glyph boxes (x, y, w, h, area rows).

    A line's core is where at least ``min_glyphs`` glyphs cross the same picture row (a row of
    separate glyphs, where other thin light things cross one at a time); the span then grows to the
    glyphs that cross the core, so the whole line height is covered.
    """
    crossing = np.zeros(h + 1, np.int32)
    np.add.at(crossing, boxes[:, 1], 1)
    np.add.at(crossing, boxes[:, 1] + boxes[:, 3], -1)
    core = np.cumsum(crossing)[:h] >= min_glyphs
    out: list[tuple[int, int]] = []
    y = 0
    while y < h:
        if not core[y]:
            y += 1
            continue
        start = y
        while y < h and core[y]:
            y += 1
        hits = boxes[(boxes[:, 1] < y) & (boxes[:, 1] + boxes[:, 3] > start)]
        y0, y1 = int(hits[:, 1].min()), int((hits[:, 1] + hits[:, 3]).max())
        if 0.015 * h <= y1 - y0 <= 0.12 * h:
            out.append((y0, y1))
    return out


def resize_mask(mask: NDArray[np.bool_], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """A working-scale mask at another size (any pixel it covers counts)."""
    h, w = shape[:2]
    if mask.shape == (h, w):
        return mask
    soft = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA if w < mask.shape[1] else cv2.INTER_LINEAR)
    return np.asarray(soft > 0.2)


def steady_text(texts: Sequence[NDArray[np.bool_] | None], reach: int = 2, share: float = 0.3) -> list[
        NDArray[np.bool_] | None]:
    """Text found on a frame is kept when a frame within ``reach`` also has text over ``share`` of
    it: a subtitle stays on screen for half a second or more, a look-alike (a collar, highlights)
    flickers in and out. Shots shorter than three frames keep everything."""
    if len(texts) < 3:
        return list(texts)
    out: list[NDArray[np.bool_] | None] = []
    for i, t in enumerate(texts):
        if t is None:
            out.append(None)
            continue
        need = share * t.sum()
        near = [texts[j] for j in range(max(0, i - reach), min(len(texts), i + reach + 1)) if j != i]
        out.append(t if any(o is not None and (o & t).sum() >= need for o in near) else None)
    return out
