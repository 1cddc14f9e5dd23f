"""Where a track stops being one character and becomes another: one cut in time, and its two sides.

The segment stage's tracks are not always one character. Where two characters meet, the tracker can
follow one's id onto the other as they part (tuning 23@10: a track is the pink-haired character in
drawings 0-3 and the blonde in 4-9), and two tracks can even swap characters mid-shot (tuning seed
47's second shot). Described from all its drawings, such a track describes neither character (seed
33: 0.24 and 0.28 from the two characters' objects, each side 0.10-0.19 from its own).

Two places act on such a track: the segment stage gives a side that is another track's character to
that track (`track_changes.cut_changed_tracks`), and registration describes the track by its main
side and links the other side on its own frames (`app.pipeline.register.split_parts`). Both ask
`change_of_character` on the track's per-drawing colours (`drawing_descriptors`), so they cannot
disagree about whether a track changes or where.

The rule (registration's of round 15; stage 1 had its own, which disagreed on where to cut: tuning
seed 47's swapped tracks, a tinted first drawing of the second character): the track's drawings are
cut once, at least `MIN_SIDE` on each side, where each drawing is nearest its own side's mean (a
drawing counts at most `identity.OUTLIER`, so a flash does not place the cut), and the track changes
character there when the two sides (`consistent_frames` of each, averaged) are `JUMP` or more apart.
A glow or a turn that changes a character's colours for the rest of the shot passes too: each caller
asks more of the other side before acting on it (a track of the shot, or a known object, with its
colours).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.base import Image, Labels
from models.classical.identity import (
    MIN_PIXELS,
    OUTLIER,
    FrameColours,
    TrackDescriptor,
    cached_colours,
    consistent_frames,
    distance,
    frame_descriptor,
    mean_descriptor,
)

MIN_SIDE = 3  # drawings on each side of a cut, at least
JUMP = 0.4  # colour distance between the two sides' means, at least


def drawing_descriptors(
    frames: Sequence[Image], labels: Sequence[Labels], track: int, cache: dict[int, FrameColours] | None = None,
) -> dict[int, TrackDescriptor]:
    """``track``'s colours in each drawing (index into ``frames``) where it is large enough to have any.

    ``cache``: the frames' `FrameColours` by index, filled as needed (one dict for every track of the
    same ``frames`` and ``labels``)."""
    out: dict[int, TrackDescriptor] = {}
    for i, (image, lab) in enumerate(zip(frames, labels, strict=True)):
        lab = np.asarray(lab)
        mask = lab == track
        if np.count_nonzero(mask) < MIN_PIXELS:
            continue
        image = np.asarray(image)
        d = frame_descriptor(image, mask, lab, None if cache is None else cached_colours(cache, i, image, lab))
        if d is not None:
            out[i] = d
    return out


def change_of_character(parts: dict[int, TrackDescriptor]) -> tuple[list[int], list[int]] | None:
    """The drawings (keys of ``parts``, in order) before and after the one place the track changes
    character, or None when it is one character throughout (module docstring)."""
    ks = sorted(parts)
    descs = [parts[k] for k in ks]
    best, cut = np.inf, 0
    for s in range(MIN_SIDE, len(descs) - MIN_SIDE + 1):
        # Each drawing nearest its own side's mean; a flash drawing counts at most `OUTLIER`.
        spread = sum(min(OUTLIER, distance(x, mean_descriptor(side))) for side in (descs[:s], descs[s:]) for x in side)
        if spread < best:
            best, cut = spread, s
    if not cut:
        return None
    before = [descs[i] for i in consistent_frames(descs[:cut])]
    after = [descs[cut + i] for i in consistent_frames(descs[cut:])]
    if distance(mean_descriptor(before), mean_descriptor(after)) < JUMP:
        return None
    return ks[:cut], ks[cut:]
