"""Track a shot's pieces backwards too, so a character hidden behind another keeps its own track.

The forward pass (`models.classical.tracking`) splits a blob only by what the frame before knew:
a character that starts the shot half hidden behind another is one blob with it from the first
frame, and the blob's id follows whichever of the two it overlaps most when they part. Seen from
the end of the shot the same frames are a blob that two known characters walk into: the backward
pass (`track_backward`: the same carrying and splitting, last frame first) splits it. Neither pass
is right everywhere (characters apart at the start and merged at the end are the mirror case), so
`reconcile` keeps both: every frame's pieces are the intersection of the two passes' pieces, and
pieces that one pass saw as one track through frames where they never meet are one track (the
forward pass's ids first).
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


def reconcile(forward: Sequence[Labels], backward: Sequence[Labels], min_pixels: int) -> list[Labels] | None:
    """One label map per frame from the two passes' labels of the same frames (None: more than 255
    tracks, keep the forward labels).

    A pixel's track is the pair (forward id, backward id); a pair under `OWN_SHARE` of its backward
    piece (or under ``min_pixels``) that is not its forward piece's largest pair joins that one: only a
    character the backward pass followed into a forward blob is split off it. Pairs that share a
    forward id, or else a backward id, and are never in one frame together are one track."""
    pair_maps: list[tuple[NDArray[np.int64], list[int]]] = []
    present: dict[tuple[int, int], set[int]] = {}
    for f, (fw, bw) in enumerate(zip(forward, backward, strict=True)):
        code = fw.astype(np.int64) * 256 + bw.astype(np.int64)
        code[fw == 0] = 0
        codes, inverse, counts = np.unique(code.ravel(), return_inverse=True, return_counts=True)
        b_area = np.bincount(bw[fw > 0].ravel(), minlength=256)
        main: dict[int, tuple[int, int]] = {}
        for c, n in zip(codes.tolist(), counts.tolist(), strict=True):
            a = c // 256
            if a and (a not in main or n > main[a][1]):
                main[a] = (c, n)
        target = []
        for c, n in zip(codes.tolist(), counts.tolist(), strict=True):
            a, b = divmod(c, 256)
            own = not a or c == main[a][0] or (n >= min_pixels and n >= OWN_SHARE * b_area[b])
            target.append(c if own else main[a][0])
        code = np.asarray(target, np.int64)[inverse].reshape(fw.shape)
        kept = sorted({int(c) for c in target if c})
        pair_maps.append((code, kept))
        for c in kept:
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
    roots = sorted({find(p) for p in present}, key=lambda r: (min(frames_of[r]), r))
    if len(roots) > 255:
        return None
    ids = {r: i + 1 for i, r in enumerate(roots)}
    out: list[Labels] = []
    for code, kept in pair_maps:
        labels = np.zeros(code.shape, np.uint8)
        for c in kept:
            labels[code == c] = ids[find(divmod(c, 256))]
        out.append(labels)
    return out
