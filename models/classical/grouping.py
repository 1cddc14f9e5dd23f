"""Whole characters from the segment stage's pieces: one track per character for the whole shot.

Background subtraction and GrabCut see a character in pieces: line art, a shirt the colour of the
wall or a still arm cut it into hair, face, arms, a hat. `group_tracks` takes the per-frame tracks
of a shot (ids that already follow each piece through the shot) and decides once per shot which
tracks are one character, from votes over the frames where two tracks are both present:

- touching: the two pieces come within a gap about as wide as a few line-art strokes, and they
  move together (their camera-compensated centroids travel alike); two characters crossing touch
  too, but they walk their own ways;
- enclosed: one piece lies inside the outer outline of the other (eyes, lenses, a mouth);
- a face with its body: pieces meeting the head box of an anime-face detection, or lying in the
  column under it, join the piece that carries the face;
- hanging: then a piece under half a character's size that sits in its lower half, within its
  width (arms under a head whose shirt the evidence missed), joins the nearest such character;
- reappearing: a character who passed behind another (or left and came back) and returns as a new
  track joins its earlier track when the two are never on screen together and share their colours.

A pair that votes yes in enough of its frames is one character (union-find, so a hat joins the head
that joins the body). Pieces that are almost only added light (effects) never join a character.
`whole_characters` then gives each frame's characters what their drawing encloses and the
evidence missed (`models.classical.enclosure`: a hat on the head, a shirt between the arms, eye
whites, teeth, lens interiors), unless it is background seen through them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Labels
from models.classical.enclosure import attach_regions, fill_enclosed
from models.classical.labelmaps import fill_holes, filled, relabel

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass
class FrameTracks:
    """One frame's fine tracks at model scale and what grouping needs to know about them."""

    labels: Labels  # per-shot track ids, 0 = background
    shift: tuple[float, float] = (0.0, 0.0)  # camera translation from the previous frame (model px)
    faces: list[Box] = field(default_factory=list)
    effect_like: set[int] = field(default_factory=set)  # tracks made almost only of added light
    image: NDArray[np.uint8] | None = None  # the frame at model scale (RGB): tracks' colours


class _UnionFind:
    """Union-find whose unions respect cannot-links (two pieces that each carried a different face,
    in the same frame or at two places of the shot, are two characters, whatever else votes)."""

    def __init__(self, apart: set[tuple[int, int]] | None = None) -> None:
        self.parent: dict[int, int] = {}
        self.apart = apart or set()

    def may_join(self, a: int, b: int, apart: set[tuple[int, int]] | None = None) -> bool:
        """Whether no cannot-link (``apart``, by default the union's own) lies between the groups of ``a`` and ``b``."""
        apart = self.apart if apart is None else apart
        ra, rb = self.find(a), self.find(b)
        if ra == rb or not apart:
            return True
        ga = [i for i in self.parent if self.find(i) == ra] or [a]
        gb = [i for i in self.parent if self.find(i) == rb] or [b]
        return not any((min(x, y), max(x, y)) in apart for x in ga for y in gb)

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        if self.may_join(a, b):
            self.union_unchecked(a, b)

    def union_unchecked(self, a: int, b: int) -> None:
        """Join the groups of ``a`` and ``b`` (the caller has checked its cannot-links)."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _frame_votes(ft: FrameTracks, gap: int) -> tuple[set[tuple[int, int]], set[tuple[int, int]],
                                                       dict[int, tuple[float, float]]]:
    """Pairs touching within ``gap``, pairs joined by enclosure or a face; track centroids."""
    lab = ft.labels
    ids = [int(i) for i in np.unique(lab) if i]
    touch: set[tuple[int, int]] = set()
    strong: set[tuple[int, int]] = set()
    centroids: dict[int, tuple[float, float]] = {}
    if not ids:
        return touch, strong, centroids
    h, w = lab.shape
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
    boxes: dict[int, Box] = {}
    for i in ids:
        ys, xs = np.nonzero(lab == i)
        centroids[i] = (float(xs.mean()), float(ys.mean()))
        boxes[i] = (int(xs.min()), int(ys.min()), int(xs.max()) - int(xs.min()) + 1, int(ys.max()) - int(ys.min()) + 1)
    area = {i: int((lab == i).sum()) for i in ids}
    for i in ids:
        x, y, bw, bh = boxes[i]
        # Work in the piece's box grown by the gap: a frame holds few pieces, each in a small box.
        x0, y0, x1, y1 = max(0, x - gap), max(0, y - gap), min(w, x + bw + gap), min(h, y + bh + gap)
        sub = lab[y0:y1, x0:x1]
        own = (sub == i).astype(np.uint8)
        near = cv2.dilate(own, k) > 0
        for j in np.unique(sub[near]):
            j = int(j)
            if j and j != i:
                touch.add((min(i, j), max(i, j)))
        # Enclosure: pieces inside this one's outer outline (closed over a line-art gap first).
        closed = np.asarray(cv2.morphologyEx(own, cv2.MORPH_CLOSE, k), np.uint8)
        inside = filled(closed)
        for j in np.unique(sub[inside]):
            j = int(j)
            if j and j != i and area[j] < area[i] and int(((sub == j) & inside).sum()) >= 0.8 * area[j]:
                strong.add((min(i, j), max(i, j)))
    for fx, fy, fw, fh in ft.faces:
        # Head: the face box grown a little; body: the column under it, two face widths wide.
        head = (max(0, fx - fw // 4), max(0, fy - fh // 2), min(w, fx + fw + fw // 4), min(h, fy + fh + fh // 4))
        body = (max(0, fx - fw // 2), fy + fh, min(w, fx + fw + fw // 2), min(h, fy + 5 * fh))
        hx0, hy0, hx1, hy1 = head
        counts = np.bincount(lab[hy0:hy1, hx0:hx1].ravel(), minlength=256)
        counts[0] = 0
        if counts.max() == 0:
            continue
        carrier = int(counts.argmax())
        face_area = max(1, (hx1 - hx0) * (hy1 - hy0))
        for j in np.flatnonzero(counts):
            j = int(j)
            if j != carrier and counts[j] >= 0.05 * min(face_area, area[j]):
                strong.add((min(carrier, j), max(carrier, j)))
        bx0, by0, bx1, by1 = body
        if by1 > by0:
            # The body: pieces mostly in the column under the face that start within a face height
            # and a half of it (a collar or neck the evidence missed leaves a gap).
            below = np.bincount(lab[by0:by1, bx0:bx1].ravel(), minlength=256)
            for j in np.flatnonzero(below):
                j = int(j)
                if j and j != carrier and below[j] >= 0.6 * area[j] and boxes[j][1] <= fy + fh + 1.5 * fh:
                    strong.add((min(carrier, j), max(carrier, j)))
    return touch, strong, centroids


def group_tracks(frames: Sequence[FrameTracks], gap: int = 6, share: float = 0.4,
                 motion_tol: float = 1.5) -> dict[int, int]:
    """Map every fine track id of the shot to a character id (1..k in order of first appearance).

    ``gap``: how close (model px) two pieces of one character come; ``share``: the share of the
    frames where both are present in which a pair must vote to be joined; ``motion_tol``: how far
    (model px per frame, beyond 15% of their speed) two touching pieces' motions may differ.
    """
    together: dict[tuple[int, int], int] = defaultdict(int)
    votes: dict[tuple[int, int], int] = defaultdict(int)
    moves: dict[tuple[int, int], list[float]] = defaultdict(list)
    prev: dict[int, tuple[float, float]] = {}
    order: list[int] = []
    effect: dict[int, list[bool]] = defaultdict(list)
    for ft in frames:
        touch, strong, cents = _frame_votes(ft, gap)
        ids = sorted(cents)
        for i in ids:
            if i not in order:
                order.append(i)
            effect[i].append(i in ft.effect_like)
        velocity = {i: (c[0] - prev[i][0] - ft.shift[0], c[1] - prev[i][1] - ft.shift[1])
                    for i, c in cents.items() if i in prev}
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1:]:
                pair = (a, b)
                together[pair] += 1
                if pair in strong:
                    votes[pair] += 1
                elif pair in touch:
                    if a in velocity and b in velocity:
                        va, vb = velocity[a], velocity[b]
                        diff = float(np.hypot(va[0] - vb[0], va[1] - vb[1]))
                        speed = float(max(np.hypot(*va), np.hypot(*vb)))
                        moves[pair].append(diff - 0.15 * speed)
                    votes[pair] += 1
        prev = cents
    is_effect = {i: float(np.mean(v)) > 0.5 for i, v in effect.items()}
    one_frame, apart = _face_apart(frames)
    uf = _UnionFind(apart)
    joins = []
    for pair, n in together.items():
        a, b = pair
        if is_effect.get(a, False) != is_effect.get(b, False):
            continue
        drift = moves.get(pair)
        moving_apart = bool(drift) and float(np.median(drift)) > motion_tol  # type: ignore[arg-type]
        if votes[pair] >= share * n and not moving_apart:
            joins.append((votes[pair] / n, pair))
    for _, (a, b) in sorted(joins, reverse=True):  # surest first: cannot-links keep the rest apart
        uf.union(a, b)
    _join_hanging(frames, uf, is_effect, share)
    _join_reappearing(frames, uf, is_effect, one_frame)
    roots: dict[int, int] = {}
    out: dict[int, int] = {}
    for i in order:
        r = uf.find(i)
        if r not in roots:
            roots[r] = len(roots) + 1
        out[i] = min(255, roots[r])
    return out


def _face_apart(frames: Sequence[FrameTracks]) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """The pairs of tracks that each carry a face in the same frame (two characters, wherever their
    faces are: the only cannot-links `_join_reappearing` keeps), and all the pairs kept apart: those,
    and pairs of tracks that each carried a face, in any drawing of the shot, show in one drawing
    together, and whose faces (each track's nearest in time to that drawing, through the camera) lie
    more than `FACES_APART` of a face width apart. A track carries a face when it holds `FACE_CORE`
    of the face box's middle half.

    Two such tracks are two characters even when one carries no face in the drawing they share: a
    character stepping out from behind another takes a new track with its face, and the track of
    the one in front, whose face is hidden there, touches that face's head box. Without the cascade
    (lossless frames, `benchmarks/segment_generated.py`, seed 13's third shot) one drawing where
    the new face's track met the hidden one's joined them (one vote of one), and the shot's three
    characters came out as [0.76, 0.21, 0.51] where this gives [0.78, 0.65, 0.71]. Two tracks whose
    faces lie at one place are one character's face passed from one track to another (with the
    cascade, five shots of those ten seeds): counting those apart too split each of them."""
    offsets = np.cumsum([(0.0, 0.0)] + [ft.shift for ft in frames[1:]], axis=0)  # the camera, frame by frame
    seen: dict[int, list[tuple[int, float, float, int]]] = defaultdict(list)  # track: (frame, x, y, width)
    one_frame: set[tuple[int, int]] = set()
    for k, ft in enumerate(frames):
        carriers = _face_carriers(ft)
        for track, (fx, fy, fw, fh) in carriers:
            seen[track].append((k, fx + fw / 2 - offsets[k][0], fy + fh / 2 - offsets[k][1], fw))
        one_frame |= {(a, b) for a, _ in carriers for b, _ in carriers if a < b}
    apart = set(one_frame)
    for k, ft in enumerate(frames):
        shown = sorted(int(i) for i in np.unique(ft.labels) if i and int(i) in seen)
        for n, a in enumerate(shown):
            for b in shown[n + 1:]:
                fa = min(seen[a], key=lambda f: abs(f[0] - k))
                fb = min(seen[b], key=lambda f: abs(f[0] - k))
                if np.hypot(fa[1] - fb[1], fa[2] - fb[2]) > FACES_APART * (fa[3] + fb[3]) / 2:
                    apart.add((a, b))
    return one_frame, apart


FACE_CORE = 0.3  # share of a face box's middle half a track holds to carry that face
FACES_APART = 0.5  # face widths between two tracks' faces: two characters' faces, not one face passed on


def _face_carriers(ft: FrameTracks) -> list[tuple[int, Box]]:
    """The tracks of one frame that carry a face, with the face: each holds `FACE_CORE` of the face
    box's middle half."""
    carriers = []
    for face in ft.faces:
        fx, fy, fw, fh = face
        core = ft.labels[max(0, fy + fh // 4) : max(0, fy + fh - fh // 4), max(0, fx + fw // 4) : max(0, fx + fw - fw // 4)]
        counts = np.bincount(core.ravel(), minlength=256)
        counts[0] = 0
        if core.size and counts.max() >= FACE_CORE * core.size:
            carriers.append((int(counts.argmax()), face))
    return carriers


def _join_hanging(frames: Sequence[FrameTracks], uf: _UnionFind, is_effect: dict[int, bool], share: float) -> None:
    """Pieces hanging under a bigger character join it (arms under a head whose shirt the evidence
    missed, when no face was detected): a piece under half the character's size, in its lower half
    or just below it, within its width, nearest to it of all characters, in ``share`` of the frames
    where both are present."""
    votes: dict[tuple[int, int], int] = defaultdict(int)
    together: dict[tuple[int, int], int] = defaultdict(int)
    for ft in frames:
        groups: dict[int, list[int]] = defaultdict(list)
        for t in (int(i) for i in np.unique(ft.labels) if i):
            groups[uf.find(t)].append(t)
        boxes: dict[int, tuple[int, int, int, int, int]] = {}
        for g, tracks in groups.items():
            ys, xs = np.nonzero(np.isin(ft.labels, tracks))
            boxes[g] = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1, int(xs.size))
        for small, (sx0, sy0, sx1, _sy1, sa) in boxes.items():
            best: tuple[float, int] | None = None
            for big, (x0, y0, x1, y1, area) in boxes.items():
                if big == small or is_effect.get(big, False) != is_effect.get(small, False) or sa > 0.5 * area:
                    continue
                together[small, big] += 1
                gw, gh = x1 - x0, y1 - y0
                within = sx0 >= x0 - 0.25 * gw and sx1 <= x1 + 0.25 * gw
                lower = sy0 >= y0 + 0.5 * gh and sy0 <= y1 + 0.5 * gh
                if within and lower:
                    dist = abs((sx0 + sx1) / 2 - (x0 + x1) / 2) / gw
                    if best is None or dist < best[0]:
                        best = (dist, big)
            if best is not None:
                votes[small, best[1]] += 1
    for (small, big), n in votes.items():
        if n >= share * together[small, big]:
            uf.union(small, big)


def _colours(image: NDArray[np.uint8], mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Unnormalised Lab colour histogram (6x6x6 bins) of the masked pixels."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    hist = cv2.calcHist([lab], [0, 1, 2], mask.astype(np.uint8), [6, 6, 6], [0, 256, 0, 256, 0, 256])
    return np.asarray(hist, np.float32).ravel()


def _join_reappearing(frames: Sequence[FrameTracks], uf: _UnionFind, is_effect: dict[int, bool],
                      one_frame: set[tuple[int, int]],
                      min_similarity: float = 0.6, min_share: float = 0.3) -> None:
    """A character who leaves the picture or passes behind another comes back as a new track: two
    characters that are never on screen together in the shot and share their colours (histogram
    intersection of all their pixels at least ``min_similarity``) are one. Pieces under
    ``min_share`` of the other's typical size (a stray line, a prop) are left alone.

    On screen is at `REMNANT` of the character's size in full view (the 80th percentile of its
    sizes) at least: one passing behind another goes as a shrinking strip while its new track grows
    out on the other side, and the two show together in the drawings of the hand-off. Its faces
    before and after lie far apart (it walked behind the other), so of the faces' cannot-links only
    ``one_frame`` (two tracks that each carried a face in one frame) keeps such a pair apart."""
    if any(ft.image is None for ft in frames):
        return
    hist: dict[int, NDArray[np.float32]] = {}
    sizes: dict[int, dict[int, int]] = defaultdict(dict)
    for f, ft in enumerate(frames):
        assert ft.image is not None
        groups: dict[int, list[int]] = defaultdict(list)
        for t in (int(i) for i in np.unique(ft.labels) if i):
            groups[uf.find(t)].append(t)
        for g, tracks in groups.items():
            mask = np.isin(ft.labels, tracks)
            h = _colours(ft.image, mask)
            hist[g] = hist[g] + h if g in hist else h
            sizes[g][f] = int(mask.sum())
    typical = {g: float(np.median(list(s.values()))) for g, s in sizes.items()}
    full = {g: float(np.percentile(list(s.values()), 80)) for g, s in sizes.items()}  # its size in full view
    present = {g: {f for f, n in s.items() if n >= REMNANT * full[g]} for g, s in sizes.items()}
    pairs = []
    for a, b in ((a, b) for a in hist for b in hist if a < b):
        if present[a] & present[b] or is_effect.get(a, False) or is_effect.get(b, False):
            continue
        if not _hands_off(sorted(sizes[a]), sorted(sizes[b])):
            continue
        if min(typical[a], typical[b]) < min_share * max(typical[a], typical[b]):
            continue
        ha, hb = hist[a] / max(1.0, float(hist[a].sum())), hist[b] / max(1.0, float(hist[b].sum()))
        sim = float(np.minimum(ha, hb).sum())
        if sim >= min_similarity:
            pairs.append((sim, a, b))
    joined: dict[int, set[int]] = {g: set(p) for g, p in present.items()}
    for _, a, b in sorted(pairs, reverse=True):  # most alike first; never two on screen at once
        ra, rb = uf.find(a), uf.find(b)
        if ra != rb and not joined[ra] & joined[rb] and uf.may_join(a, b, one_frame):
            uf.union_unchecked(a, b)
            r = uf.find(a)
            joined[r] = joined[ra] | joined[rb]


def _hands_off(frames_a: Sequence[int], frames_b: Sequence[int]) -> bool:
    """Whether one of two characters' frames (sorted) start and end before the other's: the one going
    behind is gone before the shot ends while the one coming out stays. A strip that shows beside
    another character to the end of the shot is no character gone behind it (`eval layers`' seed 70,
    no cascade: a track that went from one character to the other's edge in a dissolve the cut
    detector cut; joined, it cost that seed's identity 1.0 -> 0.5)."""
    a0, a1, b0, b1 = frames_a[0], frames_a[-1], frames_b[0], frames_b[-1]
    return (a0 < b0 and a1 < b1) or (b0 < a0 and b1 < a1)


# Under this share of its size in full view a character is going behind another or coming out: in
# `eval layers`' seed 46 (no cascade) the girl's old track shrank 8,030 -> 1,949 px while her new one
# grew 2,629 -> 6,726 px, the two in one drawing (3) at 0.41 and 0.40 of their full size.
REMNANT = 0.5


def still_characters(frames: Sequence[FrameTracks], mapping: dict[int, int], speed: float = 0.003,
                     times: Sequence[int] | None = None) -> set[int]:
    """Characters (``mapping``'s values) that hardly move in the shot: the median of their
    camera-compensated centroid steps per frame (``times``: the frames' indices, when the shot is
    passed one drawing each), over the steps where they moved at all (held drawings repeat), is
    under ``speed`` of the frame's long side. (onepiece_demo.mp4: 0.0004-0.002 per frame; walking
    characters of generated shots: 0.003-0.02.)"""
    lut = np.zeros(256, np.uint8)
    for a, b in mapping.items():
        lut[a] = b
    prev: dict[int, tuple[float, float]] = {}
    steps: dict[int, list[float]] = defaultdict(list)
    long_side = 1
    for f, ft in enumerate(frames):
        gap = max(1, times[f] - times[f - 1]) if times is not None and f > 0 else 1
        grouped = lut[ft.labels]
        long_side = max(grouped.shape)
        cur: dict[int, tuple[float, float]] = {}
        for c in (int(v) for v in np.unique(grouped) if v):
            ys, xs = np.nonzero(grouped == c)
            cur[c] = (float(xs.mean()), float(ys.mean()))
            if c in prev:
                step = float(np.hypot(cur[c][0] - prev[c][0] - ft.shift[0], cur[c][1] - prev[c][1] - ft.shift[1]))
                if step > 0.01:
                    steps[c].append(step / gap)
        prev = cur
    seen = {int(c) for c in mapping.values()}
    # A character that never stepped at all (one frame, or a still picture) is still.
    return {c for c in seen if not steps[c] or float(np.median(steps[c])) < speed * long_side}


def whole_characters(ft: FrameTracks, mapping: dict[int, int], keep_out: NDArray[np.bool_] | None = None,
                     background: NDArray[np.bool_] | None = None, effects: set[int] | None = None,
                     still: set[int] | None = None) -> Labels:
    """One frame's tracks as characters (``mapping``), each with its enclosed holes; effects
    (``effects``: character ids) take none.

    A character that moves (not in ``still``; None: all are still) was seen against the plate: the
    plate tells its holes (`labelmaps.fill_holes`: background seen through is left open) and its
    parts all moved with it. A still character is burnt into the plate, which holds its eye whites,
    hat and shirt as well as the wall: from the picture alone (`models.classical.enclosure`) it
    takes the regions its line art closes around and its enclosed holes. Without the frame's
    picture every character is judged by the plate."""
    grouped = relabel(ft.labels, mapping)
    chars = {int(g) for g in np.unique(grouped) if g} - (effects or set())
    calm = chars if still is None else chars & still
    if ft.image is None or not calm:
        return fill_holes(grouped, keep_out=keep_out, background=background)
    moving = chars - calm
    if moving:
        plate_filled = fill_holes(grouped, keep_out=keep_out, background=background)
        grouped = np.where(np.isin(plate_filled, list(moving)), plate_filled, grouped).astype(np.uint8)
    grouped = attach_regions(grouped, ft.image, ids=calm, keep_out=keep_out)
    return fill_enclosed(grouped, ft.image, keep_out=keep_out, ids=calm)
