"""A track that changes character during a shot is cut in two: each side goes to its own character.

A character hidden behind another, or touching it, in the drawings where the shot's tracks are made
has no track of its own there: its pixels sit on its neighbour's. When the two part (the one in front
walks on, the hidden one steps out), the tracker can follow the front one's id onto the one stepping
out, and the front one gets a new id. One track is then one character in the first drawings and the
other in the last, and each character is half of two objects (tuning 23@10, 26@0, 33@10, 42@20). The
shot's grouping keeps the track whole (it is on screen throughout), `crossings` only exchanges two
tracks that are both on screen on both sides, and `shared_objects` gives regions to a track by the
colours it was learnt from - which here are both characters'.

`cut_changed_tracks` runs on a shot's whole characters (model scale, after `split_shared`). Where a
track changes character is `character_change.change_of_character`'s to say (registration asks the same
of its tracks, `register.split_parts`). A side goes to the track of the shot whose colours it has: a
track absent from all that side's drawings, under `NEAR` of it and nearer than the side it leaves (of
the two sides, the one with the nearer such track). With none, the track is left whole: a glow that
lights a character for the rest of the shot, or a turn, changes its colours too, and a new id would be
a piece of a character (tried: a new track for the shorter side - 0.7047 against 0.7071 on 30 tuning
seeds, and fragmentation up). Only ids change: no pixel moves between characters or to the
background. Effects and text are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.base import Image, Labels
from models.classical.character_change import MIN_SIDE, change_of_character, drawing_descriptors
from models.classical.identity import FrameColours, TrackDescriptor, distance, mean_descriptor

NEAR = 0.3  # colour distance to an absent track the cut-off side joins, at most


def cut_changed_tracks(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]]) -> list[Labels]:
    """``labels`` (one shot's whole characters at model scale, ``images`` its drawings) with each track
    that is one character and then another cut in two, the side that is another track's character
    given to that track (module docstring). ``characters[i]``: the character ids of drawing ``i``."""
    out = [np.asarray(lab).copy() for lab in labels]
    ids = sorted(set().union(*characters)) if characters else []
    if len(out) < 2 * MIN_SIDE or not ids:
        return out
    cache: dict[int, FrameColours] = {}  # each drawing's colours, computed once for all its tracks
    desc = {c: {i: d for i, d in drawing_descriptors(images, out, c, cache).items() if c in characters[i]}
            for c in ids}
    for c in ids:
        cut = change_of_character(desc[c])
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
