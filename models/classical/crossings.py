"""Ids given back after two characters cross: each track keeps the character whose colours it began with.

Two characters who pass in front of each other are one blob for a few drawings; the tracker
(`tracking.IdTracker`, `tracking.carry_labels`) follows each id by overlap and template matching, and
when the one behind is a sliver or is drawn turned away it can hand each character the other's id as
they part. The shot's grouping keeps the two tracks apart (they are two characters), so nothing
downstream sees it: each track is then one character before the crossing and the other after, and
both characters' masks are half wrong.

`unswap_crossings` runs on a shot's whole characters (model scale, after the grouping, the held parts
and the hidden strips). For each pair of characters on screen together, the drawings where both are
sizeable (`SIZEABLE` of their largest size in the shot) are cut into runs that no crossing separates:
between two drawings of one run the two never come within `GAP` px of each other (by their column
ranges), never change sides and both stay sizeable. Each run describes the two tracks by their
colours (`identity.frame_descriptor`: background-discounted Lab histograms of the whole and of the top
band, core pixels only, so the strip where the two touch says nothing). The run that holds most
drawings is the reference; another run whose two tracks are each nearer the *other* track's colours in
the reference (by `MARGIN` in all, each under `NEAR` of the character it is given) has its ids
exchanged, and with it the drawings of the crossing itself up to the next run, each judged by its own
colours where the two runs disagree. Only ids are exchanged: no pixel changes owner between a
character and the background, no two characters are merged. Effects and text are left alone. Pairs
are mended one at a time, the largest gain first, each pair once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.identity import (
    FrameColours,
    TrackDescriptor,
    distance,
    frame_colours,
    frame_descriptor,
    mean_descriptor,
)

SIZEABLE = 0.5  # of a track's largest size in the shot: a drawing where it is this big describes it
GAP = 2  # px between two tracks' column ranges: closer, one may be in front of the other (trade ids there)
MARGIN = 0.1  # colour distance (`identity.distance`, both tracks together) an exchange must gain, at least
NEAR = 0.45  # each track's distance to the character it is given, at most
MIN_PIXELS = 64  # a track smaller than this in a drawing is not on screen there


@dataclass
class _Pair:
    """One pair's decision: the drawings whose two ids are exchanged, and the colour distance gained."""

    a: int
    b: int
    frames: list[int]
    gain: float


def unswap_crossings(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]]) -> list[Labels]:
    """``labels`` (one shot's whole characters at model scale, ``images`` its drawings) with the ids of
    two characters exchanged in the drawings where they crossed and the tracker gave each the other's
    (module docstring). ``characters[i]``: the character ids of drawing ``i``."""
    out = [np.asarray(lab) for lab in labels]
    done: set[tuple[int, int]] = set()
    cache: dict[int, FrameColours] = {}
    while True:
        pairs = [p for p in crossing_swaps(out, images, characters, cache) if (p.a, p.b) not in done]
        if not pairs:
            return out
        best = max(pairs, key=lambda p: p.gain)
        done.add((best.a, best.b))
        lut = np.arange(256, dtype=np.uint8)
        lut[best.a], lut[best.b] = best.b, best.a
        for i in best.frames:
            out[i] = lut[out[i]]


def crossing_swaps(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]],
                   cache: dict[int, FrameColours] | None = None) -> list[_Pair]:
    """Every pair of characters whose ids the colours say were exchanged somewhere in the shot."""
    n = len(labels)
    if n < 2:
        return []
    ids = sorted(set().union(*characters)) if characters else []
    area: dict[int, NDArray[np.int64]] = {c: np.zeros(n, np.int64) for c in ids}
    boxes: dict[int, list[tuple[int, int] | None]] = {c: [None] * n for c in ids}
    for i, lab in enumerate(labels):
        lab = np.asarray(lab)
        counts = np.bincount(lab.ravel(), minlength=256)
        for c in characters[i]:
            if counts[c] >= MIN_PIXELS:
                area[c][i] = int(counts[c])
                xs = np.flatnonzero((lab == c).any(axis=0))
                boxes[c][i] = (int(xs[0]), int(xs[-1]) + 1)
    colours: dict[int, FrameColours] = {} if cache is None else cache
    desc: dict[tuple[int, int], TrackDescriptor | None] = {}

    def describe(i: int, c: int) -> TrackDescriptor | None:
        if (i, c) not in desc:
            image, lab = np.asarray(images[i]), np.asarray(labels[i])
            if i not in colours:  # the frame in Lab; no background discount (one shot's two characters)
                colours[i] = frame_colours(image)
            desc[(i, c)] = frame_descriptor(image, lab == c, lab, lambda: colours[i])
        return desc[(i, c)]

    found = []
    for j, a in enumerate(ids):
        for b in ids[j + 1:]:
            pair = _pair_swap(a, b, area, boxes, describe, n)
            if pair is not None:
                found.append(pair)
    return found


def _touch(x: tuple[int, int] | None, y: tuple[int, int] | None) -> bool:
    """Whether two tracks' column ranges meet or overlap (within `GAP` px): one may be in front of the other."""
    if x is None or y is None:
        return False
    return min(x[1], y[1]) - max(x[0], y[0]) >= -GAP


def _left(x: tuple[int, int] | None, y: tuple[int, int] | None) -> bool | None:
    """Whether the first track's centre is left of the second's (None when one is not on screen)."""
    if x is None or y is None:
        return None
    return x[0] + x[1] < y[0] + y[1]


def _pair_swap(a: int, b: int, area: dict[int, NDArray[np.int64]], boxes: dict[int, list[tuple[int, int] | None]],
               describe: Callable[[int, int], TrackDescriptor | None], n: int) -> _Pair | None:
    """The drawings where ``a`` and ``b`` are to exchange ids, or None (module docstring)."""
    sizeable = (area[a] >= SIZEABLE * area[a].max()) & (area[b] >= SIZEABLE * area[b].max())
    full = [i for i in range(n) if sizeable[i]]
    if len(full) < 2:
        return None
    # Runs: consecutive drawings where both are sizeable that no crossing separates (no colours yet:
    # most pairs never cross, and are done here).
    runs: list[list[int]] = [[full[0]]]
    for p, q in itertools.pairwise(full):
        crossing = _left(boxes[a][p], boxes[b][p]) != _left(boxes[a][q], boxes[b][q]) or any(
            not sizeable[k] or _touch(boxes[a][k], boxes[b][k]) for k in range(p, q + 1))
        if crossing:
            runs.append([q])
        else:
            runs[-1].append(q)
    if len(runs) < 2:
        return None
    seen: dict[int, tuple[TrackDescriptor, TrackDescriptor]] = {}
    for i in full:
        da, db = describe(i, a), describe(i, b)
        if da is not None and db is not None:
            seen[i] = (da, db)
    runs = [kept for kept in ([i for i in run if i in seen] for run in runs) if kept]
    if len(runs) < 2:
        return None
    ref = max(range(len(runs)), key=lambda r: len(runs[r]))
    run_desc = [(mean_descriptor([seen[i][0] for i in r]), mean_descriptor([seen[i][1] for i in r])) for r in runs]
    ref_a, ref_b = run_desc[ref]
    state = [False] * len(runs)
    gain = 0.0
    for r, (xa, xb) in enumerate(run_desc):
        if r == ref:
            continue
        keep = distance(xa, ref_a) + distance(xb, ref_b)
        swap = distance(xa, ref_b) + distance(xb, ref_a)
        if keep - swap > MARGIN and distance(xa, ref_b) < NEAR and distance(xb, ref_a) < NEAR:
            state[r] = True
            gain += keep - swap
    if not any(state):
        return None
    # Every drawing's state: a run's own; between runs (the crossing), its own colours where both or
    # one of the two tracks can be described, else the run before it (or after, before the first).
    of_frame: dict[int, bool] = {i: state[r] for r, run in enumerate(runs) for i in run}
    firsts = [run[0] for run in runs]
    out: list[int] = []
    for i in range(n):
        if i in of_frame:
            s = of_frame[i]
        else:
            before = [r for r, f in enumerate(firsts) if f < i]
            s = state[before[-1]] if before else state[0]
            after = [r for r, f in enumerate(firsts) if f > i]
            if after and before and state[after[0]] != state[before[-1]]:
                keep = swap = 0.0
                for c, own, other in ((a, ref_a, ref_b), (b, ref_b, ref_a)):
                    d = describe(i, c) if area[c][i] > 0 else None
                    if d is not None:
                        keep += distance(d, own)
                        swap += distance(d, other)
                if keep != swap:
                    s = swap < keep
        if s:
            out.append(i)
    return _Pair(a, b, out, gain)
