"""Track a shot's pieces backwards too, so a character hidden behind another keeps its own track.

The forward pass (`models.classical.tracking`) splits a blob only by what the frame before knew:
a character that starts the shot half hidden behind another is one blob with it from the first
frame, and the blob's id follows whichever of the two it overlaps most when they part. Seen from
the end of the shot the same frames are a blob that two known characters walk into: the backward
pass (`track_backward`: the same carrying and splitting, last frame first) splits it. Neither pass
is right everywhere (characters apart at the start and merged at the end are the mirror case), so
`reconcile` keeps both: every frame's pieces are the intersection of the two passes' pieces, and
pieces that one pass saw as one track through frames where they never meet are one track (the
forward pass's ids first). A split that would put a track in a frame beside a track the forward
pass never saw with it, and that is a character there (not a strip left behind), is undone: the
two may be one character seen before and after it was hidden, which the grouping then joins.

A forward piece keeps the pair it had in the frame before as its main one while that pair still
holds `MAIN_STAYS` of the largest (a wrong backward piece that outgrows it for a frame does not take
the piece into another track), and the segmenter keeps the forward grouping of a shot where the
both-ways grouping would absorb one of its characters into another (`joins_apart`). On by default
(`ClassicalSegmenter(backtrack=...)`; docs/results.md, issue #9, "Round 7 (wt-D)").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.tracking import IdTracker, carry_labels, split_merged

Box = tuple[int, int, int, int]
# A part of a forward piece is split off only when it is most of the backward piece it belongs to (a
# character the backward pass followed); a thin strip where the passes drew the boundary between two
# characters differently is not, and stays with its forward piece.
OWN_SHARE = 0.5
# A split is undone where it would put its track in a frame beside a track the forward pass never
# saw together with it, and that track holds at least this share of the split-off piece's pixels
# there (`_conflicts`).
RIVAL_SHARE = 0.5
# A forward piece's main pair stays the one it had in the frame before while that pair holds at least
# this share of the piece's largest pair.
MAIN_STAYS = 0.5


@dataclass
class TrackedFrame:
    """What the backward pass needs of a frame the forward pass tracked (model scale)."""

    index: int  # the frame's position in the shot
    comps: NDArray[np.int32]  # the foreground's components before any split
    image: Image
    faces: list[Box]
    to_plate: NDArray[np.float64]  # model-scale frame -> plate transform (3x3)


def track_backward(frames: Sequence[TrackedFrame], last: Labels, search: int) -> list[Labels]:
    """Labels of the tracked frames, last first in time order, followed from ``last`` (the forward
    labels of the last tracked frame) back to the first; new pieces get ids above ``last``'s."""
    out: list[Labels] = [last]
    tracker = IdTracker()
    tracker.next_id = int(last.max()) + 1
    for k in range(len(frames) - 2, -1, -1):
        f, g = frames[k], frames[k + 1]
        m = (np.linalg.inv(f.to_plate) @ g.to_plate)[:2]
        size = f.comps.shape[::-1]
        warped = np.asarray(cv2.warpAffine(out[0], m, size, flags=cv2.INTER_NEAREST), np.uint8)
        warped_img = np.asarray(cv2.warpAffine(g.image, m, size, flags=cv2.INTER_LINEAR), np.uint8)
        carried = carry_labels(warped, warped_img, f.image, search)
        comps = split_merged(f.comps, f.image, f.faces, carried)
        ids = tracker.assign(comps, carried)
        out.insert(0, ids[comps].astype(np.uint8))
    return out


Row = tuple[int, int, bool, bool]  # a pair's code (forward id * 256 + backward id), its blob's main pair, main?, a split?


def reconcile(forward: Sequence[Labels], backward: Sequence[Labels], min_pixels: int, *,
              guard: bool = True) -> list[Labels] | None:
    """One label map per frame from the two passes' labels of the same frames (None: more than 255
    tracks, keep the forward labels).

    A pixel's track is the pair (forward id, backward id); a pair under `OWN_SHARE` of its backward
    piece (or under ``min_pixels``) that is not its forward piece's largest pair joins that one: only a
    character the backward pass followed into a forward blob is split off it. Pairs that share a
    forward id, or else a backward id, and are never in one frame together are one track. With
    ``guard``, splits that would keep apart two tracks the forward pass never saw together
    (`_conflicts`) are undone: there the forward pass wins."""
    frames = []
    kept: dict[int, int] = {}  # forward id -> its main pair in the frame before
    for fw, bw in zip(forward, backward, strict=True):
        frames.append(_pairs(fw, bw, min_pixels, kept))
    splits = {(f, c) for f, (_, rows) in enumerate(frames) for c, _, _, split in rows if split}
    joined = _join(frames, splits)
    if guard:
        vetoed = _conflicts(frames, splits, joined)
        if vetoed:
            splits -= vetoed
            joined = _join(frames, splits)
    pair_maps, root_of = joined
    first: dict[tuple[int, int], int] = {}
    for (f, _), r in root_of.items():
        first[r] = min(f, first.get(r, f))
    roots = sorted(first, key=lambda r: (first[r], r))
    if len(roots) > 255:
        return None
    ids = {r: i + 1 for i, r in enumerate(roots)}
    out: list[Labels] = []
    for f, code in enumerate(pair_maps):
        labels = np.zeros(code.shape, np.uint8)
        for c in np.unique(code).tolist():
            if c:
                labels[code == c] = ids[root_of[f, c]]
        out.append(labels)
    return out


def _pairs(fw: Labels, bw: Labels, min_pixels: int, kept: dict[int, int] | None = None) -> tuple[NDArray[np.intp], list[Row]]:
    """One frame's pairs: each pixel's index into the rows, and the rows. ``kept``: each forward id's
    main pair in the frame before (updated)."""
    code = fw.astype(np.int64) * 256 + bw.astype(np.int64)
    code[fw == 0] = 0
    codes, inverse, counts = np.unique(code.ravel(), return_inverse=True, return_counts=True)
    b_area = np.bincount(bw[fw > 0].ravel(), minlength=256)
    main: dict[int, tuple[int, int]] = {}
    for c, n in zip(codes.tolist(), counts.tolist(), strict=True):
        a = c // 256
        if a and (a not in main or n > main[a][1]):
            main[a] = (c, n)
    if kept is not None:
        count = dict(zip(codes.tolist(), counts.tolist(), strict=True))
        for a, (c, n) in list(main.items()):
            k = kept.get(a)
            if k is not None and k != c and count.get(k, 0) >= max(min_pixels, MAIN_STAYS * n):
                main[a] = (k, count[k])
        kept.update({a: c for a, (c, _) in main.items()})
    rows: list[Row] = []
    for c, n in zip(codes.tolist(), counts.tolist(), strict=True):
        a, b = divmod(c, 256)
        own = not a or c == main[a][0]
        rows.append((c, main[a][0] if a else 0, own, not own and n >= min_pixels and n >= OWN_SHARE * b_area[b]))
    return inverse.reshape(fw.shape), rows


Joined = tuple[list[NDArray[np.int64]], dict[tuple[int, int], tuple[int, int]]]


def _join(frames: Sequence[tuple[NDArray[np.intp], list[Row]]], splits: set[tuple[int, int]]) -> Joined:
    """Each frame's pair codes (a split not in ``splits`` back in its blob's main pair) and the
    track of each (frame, code): its root pair."""
    pair_maps: list[NDArray[np.int64]] = []
    present: dict[tuple[int, int], set[int]] = {}
    for f, (inverse, rows) in enumerate(frames):
        target = [c if own or (f, c) in splits else m for c, m, own, _ in rows]
        pair_maps.append(np.asarray(target, np.int64)[inverse])
        for c in {int(c) for c in target if c}:
            present.setdefault(divmod(c, 256), set()).add(f)
    parent = {p: p for p in present}
    frames_of = {p: set(s) for p, s in present.items()}

    def find(p: tuple[int, int]) -> tuple[int, int]:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    # Forward ids first: the forward pass is the one the rest of the stage was tuned on, and a
    # backward pass that swapped two characters' ids in a crossing must not carry the swap along.
    for side in (0, 1):
        for p in sorted(present):
            for q in sorted(present):
                if p < q and p[side] == q[side]:
                    rp, rq = find(p), find(q)
                    if rp != rq and not frames_of[rp] & frames_of[rq]:
                        parent[rq] = rp
                        frames_of[rp] |= frames_of.pop(rq)
    root_of = {(f, c): find(p) for p, fs in present.items() for f in fs for c in [p[0] * 256 + p[1]]}
    return pair_maps, root_of


def _conflicts(frames: Sequence[tuple[NDArray[np.intp], list[Row]]], splits: set[tuple[int, int]],
               joined: Joined) -> set[tuple[int, int]]:
    """Splits that put their track beside a track it never met in the forward pass, in a frame where
    that track holds at least `RIVAL_SHARE` of the split-off piece's pixels (a character there, not
    a strip left behind).

    The forward pass kept the two tracks' pieces in frames apart: they may be one character, which
    the grouping joins unless the two share a frame, and the backward piece a wrong one."""
    pair_maps, root_of = joined
    meet: set[tuple[int, int]] = set()  # forward ids seen in one frame together
    own_fw: dict[tuple[int, int], set[int]] = {}  # a track's forward ids where it is no split
    for f, (_, rows) in enumerate(frames):
        fids = {c // 256 for c, _, _, _ in rows if c}
        meet |= {(x, y) for x in fids for y in fids}
        for c, _, own, _ in rows:
            if c and own:
                own_fw.setdefault(root_of[f, c], set()).add(c // 256)
    vetoed: set[tuple[int, int]] = set()
    for f, c in sorted(splits):
        codes, counts = np.unique(pair_maps[f], return_counts=True)
        area: dict[tuple[int, int], int] = {}  # track -> pixels in this frame
        for d, n in zip(codes.tolist(), counts.tolist(), strict=True):
            if d:
                area[root_of[f, d]] = area.get(root_of[f, d], 0) + n
        piece = int(counts[codes.tolist().index(c)])
        r = root_of[f, c]
        mine = own_fw.get(r, set())
        for q, n in area.items():
            theirs = own_fw.get(q, set())
            if q == r or not mine or not theirs or mine & theirs or n < RIVAL_SHARE * piece:
                continue
            if not any((x, y) in meet for x in mine for y in theirs):
                vetoed.add((f, c))
    return vetoed


# A character of the forward grouping counts as held by a both-ways character in a frame from this
# share of the both-ways character's pixels there (and `min_pixels`): less is an edge drawn elsewhere.
JOIN_SHARE = 0.1


def joins_apart(forward: Sequence[Labels], both: Sequence[Labels], min_pixels: int) -> bool:
    """Whether the both-ways grouping absorbs a character of the forward grouping into another: some
    character of ``both`` (the both-ways tracks grouped) holds, in one frame, pixels of two characters
    of ``forward`` (the forward tracks grouped), each at least ``min_pixels`` and `JOIN_SHARE` of its
    pixels there, and no other character of ``both`` holds those two in any frame. (Where another
    does, the two groupings name the same two characters in two orders: the forward pass swapped
    their ids in a crossing, which the backward pass mends.)"""
    holds: dict[int, set[int]] = {}  # both-ways character -> forward characters it holds somewhere
    pairs: set[tuple[int, int, int]] = set()  # (both-ways character, forward x, forward y) in one frame
    for fw, bw in zip(forward, both, strict=True):
        on = (fw > 0) & (bw > 0)
        counts = np.bincount(bw[on].astype(np.int64) * 256 + fw[on], minlength=65536).reshape(256, 256)
        total = np.bincount(bw.ravel(), minlength=256)
        for g in np.flatnonzero(total[1:]) + 1:
            big = [int(x) for x in np.flatnonzero(counts[g] >= max(min_pixels, JOIN_SHARE * total[g]))]
            holds.setdefault(int(g), set()).update(big)
            pairs |= {(int(g), x, y) for x in big for y in big if x < y}
    return any(not any(h != g and {x, y} <= held for h, held in holds.items()) for g, x, y in pairs)
