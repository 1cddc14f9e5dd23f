"""A track that changes character during a shot is cut in two: each side goes to its own character.

A character hidden behind another, or touching it, in the drawings where the shot's tracks are made
has no track of its own there: its pixels sit on its neighbour's. When the two part (the one in front
walks on, the hidden one steps out), the tracker can follow the front one's id onto the one stepping
out, and the front one gets a new id. One track is then one character in the first drawings and the
other in the last, and each character is half of two objects (tuning 23@10, 26@0, 33@10, 42@20). The
shot's grouping keeps the track whole (it is on screen throughout), `crossings` only exchanges two
tracks that are both on screen on both sides, and `shared_objects` gives regions to a track by the
colours it was learnt from - which here are both characters'.

`cut_changed_tracks` runs on a shot's whole characters (model scale, after `split_shared`). Each
track's drawings are described by their colours (`identity.frame_descriptor`: background-discounted
Lab histograms of the whole and of the top band). A track is cut where the drawings before and the
drawings after, `MIN_RUN` or more on each side, are `JUMP` or more apart (their mean descriptors) and
every drawing on each side is nearer its own side's mean than the other's by `MARGIN` (a flash tints a
drawing or two through: the drawings beyond it on the same side are then nearer the other side, and
nothing is cut). A side goes to the track of the shot whose colours it has: a track absent from all
that side's drawings, under `NEAR` of it and nearer than the side it leaves (of the two sides, the one
with the nearer such track). With none, the track is left whole: a glow that lights a character for
the rest of the shot, or a turn, changes its colours too, and a new id would be a piece of a
character (tried: a new track for the shorter side - 0.7047 against 0.7071 on 30 tuning seeds, and
fragmentation up). Only ids change: no pixel moves between characters or to the background. Effects
and text are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from models.base import Image, Labels
from models.classical.identity import (
    FrameColours,
    TrackDescriptor,
    distance,
    frame_colours,
    frame_descriptor,
    mean_descriptor,
)

MIN_RUN = 3  # drawings on each side of a cut, at least
JUMP = 0.4  # colour distance between the two sides' means, at least
MARGIN = 0.05  # each drawing nearer its own side's mean than the other's by this much
NEAR = 0.3  # colour distance to an absent track the cut-off side joins, at most
MIN_PIXELS = 64  # a track smaller than this in a drawing is not on screen there


def cut_changed_tracks(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]]) -> list[Labels]:
    """``labels`` (one shot's whole characters at model scale, ``images`` its drawings) with each track
    that is one character and then another cut in two, the side that is another track's character
    given to that track (module docstring). ``characters[i]``: the character ids of drawing ``i``."""
    out = [np.asarray(lab).copy() for lab in labels]
    ids = sorted(set().union(*characters)) if characters else []
    if len(out) < 2 * MIN_RUN or not ids:
        return out
    cache: dict[int, FrameColours] = {}

    def colours(i: int) -> Callable[[], FrameColours]:
        def get() -> FrameColours:  # the frame's colours, computed once for all its tracks
            if i not in cache:
                cache[i] = frame_colours(np.asarray(images[i]), out[i])
            return cache[i]
        return get

    desc: dict[int, dict[int, TrackDescriptor]] = {}
    for c in ids:
        desc[c] = {}
        for i, lab in enumerate(out):
            own = lab == c
            if c in characters[i] and np.count_nonzero(own) >= MIN_PIXELS:
                d = frame_descriptor(np.asarray(images[i]), own, lab, colours(i))
                if d is not None:
                    desc[c][i] = d
    for c in ids:
        cut = _cut(desc[c])
        if cut is None:
            continue
        before, after = cut
        options = []
        for moved, stays in ((after, before), (before, after)):
            m_desc = mean_descriptor([desc[c][i] for i in moved])
            s_desc = mean_descriptor([desc[c][i] for i in stays])
            found = _absent_track(c, moved, m_desc, distance(m_desc, s_desc), desc)
            if found is not None:
                options.append((found[0], moved, found[1]))
        if not options:
            continue  # no track of the shot has the other side's colours: a glow, a turn - left alone
        _, moved, target = min(options)
        for i in moved:
            out[i][out[i] == c] = target
        desc[target] = {**desc.get(target, {}), **{i: desc[c].pop(i) for i in moved}}
    return out


def _cut(parts: dict[int, TrackDescriptor]) -> tuple[list[int], list[int]] | None:
    """The track's drawings before and after the one place its colours change, or None."""
    ks = sorted(parts)
    best: tuple[float, int] | None = None
    for j in range(MIN_RUN, len(ks) - MIN_RUN + 1):
        a = mean_descriptor([parts[i] for i in ks[:j]])
        b = mean_descriptor([parts[i] for i in ks[j:]])
        apart = distance(a, b)
        if apart < JUMP:
            continue
        own_side = all(distance(parts[i], a) + MARGIN <= distance(parts[i], b) for i in ks[:j]) and \
            all(distance(parts[i], b) + MARGIN <= distance(parts[i], a) for i in ks[j:])
        if own_side and (best is None or apart > best[0]):
            best = (apart, j)
    if best is None:
        return None
    return ks[:best[1]], ks[best[1]:]


def _absent_track(c: int, drawings: list[int], moved: TrackDescriptor, left: float,
                  desc: dict[int, dict[int, TrackDescriptor]]) -> tuple[float, int] | None:
    """The track of the shot, absent from ``drawings``, whose colours the cut-off side has (distance, id)."""
    best: tuple[float, int] | None = None
    for t, parts in desc.items():
        if t == c or not parts or any(i in parts for i in drawings):
            continue
        d = distance(moved, mean_descriptor(list(parts.values())))
        if d < NEAR and d < left and (best is None or d < best[0]):
            best = (d, t)
    return best
