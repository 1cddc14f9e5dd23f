"""What a character's outline encloses belongs to it: holes (eye whites, teeth, lens interiors) and
the flat regions its line art closes around (a hat on the head, a shirt between the arms).

Anime draws a character as flat colour regions cut out by dark line art and colour edges. The
segment stage finds the regions that depart from the background plate; a still character is burnt
into the plate, so regions that never moved (a hat the colour of the wall behind it, a white shirt,
eye whites) are missed even though the drawing plainly closes them into the character. Two rules
take them back, per frame, from the picture alone:

- `fill_enclosed`: a hole inside an object's mask, or closed by the mask with the outline drawn
  around it (a mask edge that cuts through an eye), is the object's unless it is large or shows
  the background that lies around the character (the same wall seen between an arm and the body).
  The plate cannot decide this for a still character: its plate holds the eye whites too.
- `attach_regions`: a flat region (bounded by line art and colour edges) joins a character when
  the character holds most of the region's boundary (a shirt between the arms, under the face), or
  a long part of it with the region on top of the character (a hat, a bow, hair ornaments).

Both leave alone what another object holds and what the caller keeps out (burnt-in text).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.filters import line_art, masked_median_colour
from models.classical.inked_under import inked_under
from models.classical.labelmaps import filled
from models.classical.morphology import hull_points

K3 = np.ones((3, 3), np.uint8)
Mask = NDArray[np.bool_]


def _lab(image: Image) -> NDArray[np.uint8]:
    """The picture in 8-bit Lab: whole numbers, so medians are counted (`filters.median_colour`)."""
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.uint8)


def edges(image: Image, grow: bool = True) -> Mask:
    """Line art and colour edges, one pixel grown (``grow``) so a stroke's one-pixel gaps are
    sealed: the boundaries of the picture's flat colour regions."""
    return _edges(image, line_art(image), grow)


def _edges(image: Image, strokes: Mask, grow: bool = True) -> Mask:
    """`edges` with the picture's line art already found (``strokes``, left unchanged)."""
    out = strokes.copy()
    blurred = cv2.GaussianBlur(image, (3, 3), 0)
    for c in range(3):  # a hue change at equal brightness is an edge too
        out |= cv2.Canny(np.ascontiguousarray(blurred[..., c]), 40, 100) > 0
    return np.asarray(cv2.dilate(out.astype(np.uint8), K3) > 0) if grow else out


def fill_enclosed(labels: Labels, image: Image, keep_out: Mask | None = None, background: Mask | None = None,
                  ids: set[int] | None = None, max_share: float = 0.25, match: float = 16.0,
                  reach: float = 0.06) -> Labels:
    """Give each object the holes its mask and outline enclose.

    A hole is enclosed by the object's mask closed over a line-art gap, or by the mask together
    with the dark outline strokes that touch it. It stays open when it is over ``max_share`` of the
    object, or when its median colour is within ``match`` (Lab) of the background around the
    object within ``reach`` of the frame's long side (background seen through, between an arm and
    the body), when the flat regions it shows mostly continue outside the object, or when it is
    painted texture (`_textured`: a wooden wall seen between the hair and the shoulder); ``background`` (pixels the shot's plate agrees with)
    loosens the colour test to twice ``match``. ``keep_out`` pixels are never filled (burnt-in
    text is no character). Only objects of ``ids`` are filled (all when None)."""
    out = labels.copy()
    h, w = labels.shape
    lab = _lab(image)
    strokes = line_art(image)
    barrier = _edges(image, strokes)  # line art is found once: it is most of what edges costs
    n_reg, regions, reg_stats, _ = cv2.connectedComponentsWithStats((~barrier).astype(np.uint8), connectivity=4)
    r = max(3, round(reach * max(h, w)))
    gap = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    for oid in (int(v) for v in present if v and (ids is None or int(v) in ids)):
        own = labels == oid
        bx, by, bw, bh = cv2.boundingRect(own.view(np.uint8))
        # Work in the object's box grown by the reach: most frames hold small objects.
        y0, y1, x0, x1 = max(0, by - r), min(h, by + bh + r), max(0, bx - r), min(w, bx + bw + r)
        sub, own_s, reg = labels[y0:y1, x0:x1], own[y0:y1, x0:x1], regions[y0:y1, x0:x1]
        near = cv2.dilate(own_s.astype(np.uint8), K3, iterations=2) > 0
        outline = strokes[y0:y1, x0:x1] & near & (sub == 0)
        closed = cv2.morphologyEx((own_s | outline).astype(np.uint8), cv2.MORPH_CLOSE, gap)
        silhouette = filled(np.asarray(closed, np.uint8))
        # Strokes inside (a pupil) are holes too; the strokes on the silhouette's edge are not.
        rim = outline & (cv2.dilate((~silhouette).astype(np.uint8), K3) > 0)
        holes = silhouette & (sub == 0) & ~rim
        if not holes.any():
            continue
        area = int(own_s.sum())
        around = ~silhouette & (sub == 0)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
        win = lab[y0:y1, x0:x1]
        fill = np.zeros(holes.shape, bool)
        # How much of each flat region of the picture lies within the silhouette.
        within = np.bincount(reg[silhouette], minlength=n_reg)
        bar, bg = barrier[y0:y1, x0:x1], None if background is None else background[y0:y1, x0:x1]
        hh, ww = holes.shape
        # The tests are pure and a hole is left open when any holds, so the cheap ones run first, for
        # every hole at once: size, regions that continue outside, and `_textured`'s size floor.
        hole_area = stats[:, cv2.CC_STAT_AREA]
        judged = (hole_area <= max_share * area) & ~_continuing_holes(comp, n, reg, within, reg_stats[:, cv2.CC_STAT_AREA])
        judged[0] = False
        min_texture = round(0.002 * h * w)
        for c in (int(v) for v in np.flatnonzero(judged)):
            # Each hole is judged in its box grown by the reach (the window `_seen_through` compares
            # colours in; it holds the whole hole with a margin), not in the whole object's box.
            x, y, bw, bh = (int(v) for v in stats[c, :4])
            at = np.s_[max(0, y - r):min(hh, y + bh + r), max(0, x - r):min(ww, x + bw + r)]
            hole = comp[at] == c
            # A hole under `_textured`'s floor has fewer core pixels than it: never textured.
            if hole_area[c] >= min_texture and _textured(hole & ~outline[at], bar[at], min_texture):
                continue
            if _seen_through(hole, around[at], win[at], match, None if bg is None else bg[at]):
                continue
            fill[at] |= hole
        # The outline strokes that close a filled hole are the object's too.
        fill |= outline & (cv2.dilate(fill.astype(np.uint8), K3, iterations=2) > 0)
        if keep_out is not None:
            fill &= ~keep_out[y0:y1, x0:x1]
        out[y0:y1, x0:x1][fill & (out[y0:y1, x0:x1] == 0)] = oid
    return out


def _textured(hole: Mask, barrier: Mask, min_area: int) -> bool:
    """Painted texture (wood grain, foliage) is background, cel-shaded characters are flat: a hole
    of at least ``min_area`` pixels whose inside is mostly edges. (A small eye is mostly edges too,
    its outline, pupil and highlight: small holes are never judged so.)"""
    core = cv2.erode(hole.astype(np.uint8), K3) > 0
    return int(core.sum()) >= min_area and float(barrier[core].mean()) > 0.5


def _continuing_holes(comp: NDArray[Any], n: int, regions: NDArray[Any], within: NDArray[Any],
                      total: NDArray[Any]) -> NDArray[np.bool_]:
    """Per hole of ``comp`` (``n`` labels, 0 none): whether most of the hole shows flat regions
    (``regions``, 0 the edges between them, which count for nothing) that lie mostly outside the
    silhouette (``within`` of ``total`` pixels inside it)."""
    outside = (total - within) > 0.5 * total
    shown = (comp > 0) & (regions > 0)
    counts = np.bincount(comp[shown], minlength=n)
    away = np.bincount(comp[shown & outside[regions]], minlength=n)
    return np.asarray(away > 0.5 * counts)  # a hole that shows no region (counts 0) does not continue


def _seen_through(hole: Mask, around: Mask, lab: NDArray[np.uint8], match: float, background: Mask | None) -> bool:
    """Whether ``hole`` shows the background that lies around the object near it (all maps are the
    window around the hole the comparison looks in: its box grown by the reach)."""
    ring = around
    if int(ring.sum()) < 10:
        return False  # nothing but the object around it: enclosed
    dist = float(np.linalg.norm(masked_median_colour(lab, hole) - masked_median_colour(lab, ring)))
    if dist < match:
        return True
    return background is not None and float(background[hole].mean()) > 0.5 and dist < 2 * match


def attach_regions(labels: Labels, image: Image, ids: set[int] | None = None, keep_out: Mask | None = None,
                   enclosed: float = 0.5, on_top: float = 0.25, max_share: float = 0.5,
                   min_area: float = 0.0005, rounds: int = 3, match: float = 16.0, reach: float = 0.06) -> Labels:
    """Flat colour regions that a character's drawing closes around join it.

    A region (bounded by `edges`, not mostly another object's, at most ``max_share`` of the
    character's area, at least ``min_area`` of the frame) joins character ``oid`` (of ``ids``, all
    objects when None) when

    - the character holds ``enclosed`` of the region's boundary (the frame's border counts against:
      what the frame cuts may continue anywhere);
    - or ``on_top`` of it, with about half of the region above the character's top edge in its
      columns (a brim may hang beside the face), spanning a third of the character's crown (the
      columns where it is highest: a hat covers the head, the wall beside the head does not), and
      no other object on its boundary; here the frame's border counts less (a brim may leave the
      picture), but a region that the frame cuts over a fifth of its outline must also pass the
      colour test below (a close-up's hat, unlike the wall above it);
    - or it touches the character and lies inside the character's convex hull (a shirt between the
      arms and under the face), in a colour unlike the background around the character within
      ``reach`` of the frame's long side (further than ``match`` in Lab: not the wall seen between
      the arms);
    - or (`_under_cut`) the frame's bottom edge cuts it under the character's middle, within the
      columns of its lower half, touching it (a close-up's collar and shirt, which a still
      character burns into the plate), in a colour unlike the background around the character
      above the bottom eighth of the frame;
    - or (`inked_under.inked_under`) the bottom edge cuts it under the character's middle, it holds
      ``0.3`` of its ring, and line art bounds it wherever it meets anything else (a close-up's shirt
      reaching past what was found of the character), in a colour unlike that background, its own
      pixels left out of it.

    Regions that joined count for the next of ``rounds`` (a shirt drawn as several regions)."""
    out = labels.copy()
    h, w = labels.shape
    barrier = edges(image)
    n, comp, stats, _ = cv2.connectedComponentsWithStats((~barrier).astype(np.uint8), connectivity=4)
    if n <= 1:
        return out
    lab = _lab(image)
    blocked = keep_out if keep_out is not None else np.zeros((h, w), bool)
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    r = max(3, round(reach * max(h, w)))
    todo = set(range(1, n))
    for _ in range(rounds):
        joined = False
        for oid in (int(v) for v in np.unique(out) if v and (ids is None or int(v) in ids)):
            own = out == oid
            area = int(own.sum())
            near_own = cv2.dilate(own.astype(np.uint8), K3, iterations=5) > 0
            near_other = cv2.dilate(((out > 0) & ~own).astype(np.uint8), K3, iterations=5) > 0
            top = np.where(own.any(axis=0), own.argmax(axis=0), -1)  # the character's top edge per column
            rows = np.flatnonzero(own.any(axis=1))
            # The crown: the columns where the character reaches within a tenth of its height of its top.
            crown = (top >= 0) & (top <= rows[0] + 0.1 * (rows[-1] - rows[0] + 1))
            hull = _hull(own)
            around: NDArray[np.float32] | None = None
            above: NDArray[np.float32] | None = None
            for k in (int(c) for c in np.unique(comp[near_own])):
                if k not in todo:
                    continue
                ra = int(stats[k, cv2.CC_STAT_AREA])
                if ra > max_share * area or ra < min_area * h * w:
                    continue
                x, y, bw, bh = (int(v) for v in stats[k, :4])
                y0, y1, x0, x1 = max(0, y - 4), min(h, y + bh + 4), max(0, x - 4), min(w, x + bw + 4)
                region = comp[y0:y1, x0:x1] == k
                sub = out[y0:y1, x0:x1]
                if float((sub[region] > 0).mean()) > 0.5 or float(blocked[y0:y1, x0:x1][region].mean()) > 0.1:
                    continue
                ring = (cv2.dilate(region.astype(np.uint8), K3, iterations=3) > 0) & ~region & ~border[y0:y1, x0:x1]
                cut = int((region & border[y0:y1, x0:x1]).sum())  # where the frame cuts the region
                total = int(ring.sum())
                if total == 0:
                    continue
                held = int((ring & near_own[y0:y1, x0:x1]).sum())
                mine, other = held / total, float((ring & near_other[y0:y1, x0:x1]).sum()) / total
                cut_share = 3 * cut / (total + 3 * cut)  # the ring is three pixels wide
                rule = ""
                if mine >= enclosed and other < 0.5 * mine and cut_share <= 0.05:
                    rule = "enclosed"
                elif mine >= on_top and other < 0.1 and cut_share <= 0.5:
                    ry, rx = np.nonzero(region)
                    covers = float(crown[x0 + int(rx.min()) : x0 + int(rx.max()) + 1].sum()) / max(1, int(crown.sum()))
                    if float((ry + y0 < top[rx + x0]).mean()) > 0.45 and covers >= 0.3:
                        # Much cut by the frame (a close-up's hat), it must also stand out.
                        rule = "on top" if cut_share <= 0.2 else "on top, cut"
                if not rule and mine >= 0.15 and other < 0.1 and cut == 0 and float(hull[y0:y1, x0:x1][region].mean()) > 0.8:
                    rule = "hull"
                if not rule and mine >= 0.15 and other < 0.1 and _under_cut(region, y0, x0, own, rows, h):
                    rule = "under, cut"
                if not rule and mine >= 0.3 and other < 0.1 and inked_under(region, y0, x0, image, own, rows):
                    rule = "inked, cut"
                if rule in ("enclosed", "hull", "on top, cut", "under, cut", "inked, cut"):
                    # Not a colour of the background around the character (a hat may be: a hat the
                    # colour of the wall still sits on the head).
                    if rule == "inked, cut":
                        # Nor the region's own pixels outside the hull (it reaches past the character).
                        mine_px = np.zeros((h, w), bool)
                        mine_px[y0:y1, x0:x1] = region
                        background = _around(out, hull, lab, r, blocked | mine_px | (np.arange(h) >= h - h // 8)[:, None])
                    elif rule == "under, cut":
                        # Above the bottom band: the rest of the collar, left out too, is no background.
                        if above is None:
                            above = _around(out, hull, lab, r, blocked | (np.arange(h) >= h - h // 8)[:, None])
                        background = above
                    else:
                        if around is None:
                            around = _around(out, hull, lab, r, blocked)
                        background = around
                    colour = masked_median_colour(lab[y0:y1, x0:x1], region)
                    # (No background around it at all: a close-up; nothing to mistake the region for.)
                    if background is not None and float((np.linalg.norm(background - colour, axis=1) < match).mean()) >= 0.05:
                        rule = ""
                ok = bool(rule)
                if ok:
                    # The region's own line art, where it meets the character, is the character's too.
                    edge = barrier[y0:y1, x0:x1] & (sub == 0) & (cv2.dilate(region.astype(np.uint8), K3, iterations=2) > 0) \
                        & (cv2.dilate((own[y0:y1, x0:x1] | region).astype(np.uint8), K3) > 0)
                    sub[((region & (sub == 0)) | edge) & ~blocked[y0:y1, x0:x1]] = oid
                    todo.discard(k)
                    joined = True
        if not joined:
            break
    return out


def _under_cut(region: Mask, y0: int, x0: int, own: Mask, rows: NDArray[np.intp], h: int) -> bool:
    """A region that the frame's bottom edge cuts, in the lower half of the character and within
    the columns of the character's lower half: a close-up's collar or shirt under
    the face, which continues below the picture (the frame cuts it, so no rule that asks for a
    closed outline takes it). The caller's colour test keeps out the background seen there."""
    if not region[-1].any() or y0 + region.shape[0] < h:  # not on the frame's bottom row
        return False
    ry, rx = np.nonzero(region)
    mid = int(rows[0] + 0.5 * (rows[-1] - rows[0] + 1))
    if ry.min() + y0 < mid:  # under the face, not beside the head
        return False
    cols = np.flatnonzero(own[mid:].any(axis=0))
    if len(cols) == 0:
        return False
    return float(((rx + x0 >= cols[0]) & (rx + x0 <= cols[-1])).mean()) >= 0.9


def _hull(mask: Mask) -> Mask:
    """The convex hull of all of ``mask``'s pixels."""
    pts = hull_points(mask)
    out = np.zeros(mask.shape, np.uint8)
    if pts is not None:
        cv2.fillConvexPoly(out, cv2.convexHull(pts), 1)
    return out > 0


def _around(labels: Labels, hull: Mask, lab: NDArray[np.uint8], r: int, blocked: Mask) -> NDArray[np.float32] | None:
    """Colours (Lab, one row a pixel) of the unlabelled pixels within ``r`` outside ``hull``: the
    background around the character."""
    # Around what is kept out (subtitle glyphs) too: their anti-aliased rims are no background.
    near_blocked = cv2.dilate(blocked.astype(np.uint8), K3, iterations=max(1, r // 6)) > 0
    ring = (cv2.dilate(hull.astype(np.uint8), K3, iterations=r) > 0) & ~hull & (labels == 0) & ~near_blocked
    if int(ring.sum()) < 10:
        return None
    return np.asarray(lab[ring][:: max(1, int(ring.sum()) // 4000)], np.float32)
