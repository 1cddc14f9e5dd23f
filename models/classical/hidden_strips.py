"""A hidden character's strip that the tracker gave an id of its own goes to that character.

A character standing behind another shows as a strip beside the front one (`tracking.split_hidden`
cuts it off the front one's blob). Where the hidden character's own track is elsewhere in those
frames - on the front one's other side, gone behind it, or swapped onto the front one's edge - the
tracker gives the strip a new id for a frame or two, and the shot's grouping cannot join it to its
character: the two are on screen together (no "reappearing" join), the strip is far smaller than the
character (`grouping._join_reappearing` needs 0.3 of its size) and it touches the front one, not its
own track. The strip is then an extra object, one more per true character (fragmentation).

`join_hidden_strips` runs on a shot's whole characters (model scale, after the grouping and the held
parts). A *brief* track - on screen in at most `BRIEF` of the shot's drawings - joins a *longer* track
of the shot (on screen in more drawings) when the longer one is hidden in every drawing the brief one
is on screen in: absent there, or partly hidden (under `SMALL` of its median size). A longer track
fully visible beside the piece is never joined (tried: "unless the two together are still one
plausible character", by width and size; on the tuning seeds it only added background pieces to
characters). And the brief one's colour signature (`identity.track_descriptor`: background-discounted Lab
histograms of the whole and of the top band - a strip's hair) is nearer that longer track's than any
other character's of the shot, by `MARGIN`, and under `NEAR`. Nothing becomes background: a track
that matches no character stays as it is. Effects and text are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.identity import FrameColours, TrackDescriptor, distance, track_descriptor

BRIEF = 0.5  # share of the shot's drawings a brief track is on screen in, at most
SMALL = 0.6  # of its median size: a track this small in a drawing is partly hidden there
NEAR = 0.45  # colour distance (`identity.distance`) to the track joined, at most
MARGIN = 0.05  # nearer the track joined than any other character of the shot by this much
MIN_PIXELS = 16  # a track smaller than this in a drawing is not on screen there


def join_hidden_strips(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]]) -> list[Labels]:
    """``labels`` (one shot's whole characters at model scale, ``images`` its drawings) with each
    brief track that is a hidden character's strip given that character's id (module docstring).
    ``characters[i]``: the character ids of drawing ``i`` (effects and text are never joined)."""
    out = [np.asarray(lab) for lab in labels]
    joins = hidden_joins(out, images, characters)
    if not joins:
        return out
    result = []
    for lab in out:
        new = lab.copy()
        for b, c in joins.items():
            new[lab == b] = c
        result.append(new)
    return result


def hidden_joins(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]]) -> dict[int, int]:
    """Brief track -> the longer track it joins (see the module docstring)."""
    n = len(labels)
    if n < 2:
        return {}
    ids = sorted(set().union(*characters))
    area: dict[int, NDArray[np.int64]] = {c: np.zeros(n, np.int64) for c in ids}
    for i, lab in enumerate(labels):
        counts = np.bincount(np.asarray(lab).ravel(), minlength=256)
        for c in characters[i]:
            if counts[c] >= MIN_PIXELS:
                area[c][i] = int(counts[c])
    on = {c: np.flatnonzero(area[c]) for c in ids}
    brief = [c for c in ids if 0 < len(on[c]) <= BRIEF * n]
    if not brief or len(ids) < 2:
        return {}
    cache: dict[int, FrameColours] = {}
    desc: dict[int, TrackDescriptor | None] = {
        c: track_descriptor(images, labels, c, cache=cache) for c in ids if len(on[c])}
    joins: dict[int, int] = {}
    for b in brief:
        db = desc.get(b)
        if db is None:
            continue
        near = sorted((distance(db, dc), c) for c, dc in desc.items() if c != b and dc is not None)
        if not near:
            continue
        best, c = near[0]
        second = near[1][0] if len(near) > 1 else 1.0
        if best > NEAR or second - best < MARGIN or len(on[c]) <= len(on[b]):
            continue
        median = float(np.median(area[c][on[c]]))
        if all(area[c][i] < SMALL * median for i in on[b]):  # absent (0) or partly hidden
            joins[b] = c
    # A track that others join is not itself joined on (no chains): the longer one keeps its id.
    return {b: c for b, c in joins.items() if c not in joins}

