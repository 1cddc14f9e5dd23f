"""Passing pieces of a character go back to it, never to the background.

A character standing behind another shows a strip beside the front one's head; `tracking.split_hidden`
cuts it off, but in a frame or two the tracker gives the strip an id of its own while the hidden
character's track is elsewhere (on the front character's other side, or after a swap): the shot's
grouping then leaves it a character of its own, one more object for the same character
(fragmentation over 1.1 on the generated shots since round 8). On the 90 tuning shots such pieces
touch a *different* character than their own more often than not, so the border does not tell where
a piece goes; its colours do.

A character of the shot (a group of the grouping's ``mapping``) is a passing piece when it carries no
detected face in most of its frames and is on screen in under ``PASSING`` of the shot's frames. It
joins the character of the shot (not a piece, not an effect) whose colours it shares most (histogram
intersection at least ``SIMILAR``, and ``MARGIN`` more than it shares with the background around it).
A piece is never made background (a real character's piece made background doubled a held-out matte
error, round 9): one that shares no character's colours stays as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.classical.grouping import Box, FrameTracks
from models.classical.labelmaps import relabel

PASSING = 0.5  # share of the shot's frames under which a piece is passing (a character stays on screen)
SIMILAR = 0.6  # colour histogram intersection a piece must share with the character it joins
MARGIN = 0.3  # how much more it must share with that character than with the background around it
FACED = 0.5  # share of its frames in which a group carrying a detected face is a character


def give_back_pieces(frames: Sequence[FrameTracks], mapping: dict[int, int], faces: Sequence[Sequence[Box]],
                     effects: set[int] | None = None) -> dict[int, int]:
    """``mapping`` with each passing piece joined to the character whose colours it shares.

    ``faces``: each frame's detected faces (not the hidden heads `split_hidden` added to the frames'
    faces: those made the pieces); ``effects``: groups that are effects (never moved, never a target).
    A shot without a detected face, or without the frames' pictures, is left as it is."""
    targets = _targets(frames, mapping, faces, effects or set())
    return {t: targets.get(g, g) for t, g in mapping.items()}


def _targets(frames: Sequence[FrameTracks], mapping: dict[int, int], faces: Sequence[Sequence[Box]],
             effects: set[int]) -> dict[int, int]:
    """Group -> the group it joins, for the passing pieces that go back."""
    if not any(faces) or any(ft.image is None for ft in frames):
        return {}
    ring = np.ones((21, 21), np.uint8)
    present: dict[int, int] = defaultdict(int)
    faced: dict[int, int] = defaultdict(int)
    own: dict[int, NDArray[np.float32]] = defaultdict(lambda: np.zeros(216, np.float32))
    around: dict[int, NDArray[np.float32]] = defaultdict(lambda: np.zeros(216, np.float32))
    for ft, frame_faces in zip(frames, faces, strict=True):
        assert ft.image is not None
        grouped = relabel(ft.labels, mapping)
        lab = np.asarray(cv2.cvtColor(ft.image, cv2.COLOR_RGB2LAB), np.uint8)
        for fx, fy, fw, fh in frame_faces:
            core = grouped[max(0, fy + fh // 4):max(0, fy + fh - fh // 4), max(0, fx + fw // 4):max(0, fx + fw - fw // 4)]
            counts = np.bincount(core.ravel(), minlength=256)
            counts[0] = 0
            if counts.max() >= 0.3 * max(1, core.size):
                faced[int(counts.argmax())] += 1
        for g in (int(v) for v in np.unique(grouped) if v):
            present[g] += 1
            if g in effects:
                continue
            mask = grouped == g
            own[g] += _colours(lab, mask)
            around[g] += _colours(lab, (cv2.dilate(mask.astype(np.uint8), ring) > 0) & (grouped == 0))
    pieces = {g for g in own if faced[g] < FACED * present[g] and present[g] < PASSING * len(frames)}
    targets: dict[int, int] = {}
    for g in pieces:
        piece = own[g] / max(1.0, float(own[g].sum()))
        to_background = _shared(piece, around[g])
        best, best_shared = 0, 0.0
        for o in sorted(set(own) - pieces):
            shared = _shared(piece, own[o])
            if shared > best_shared:
                best, best_shared = o, shared
        if best and best_shared >= SIMILAR and best_shared >= to_background + MARGIN:
            targets[g] = best
    return targets


def _shared(piece: NDArray[np.float32], hist: NDArray[np.float32]) -> float:
    """Histogram intersection of a normalised histogram with another (normalised here)."""
    return float(np.minimum(piece, hist / max(1.0, float(hist.sum()))).sum())


def _colours(lab: NDArray[np.uint8], mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Unnormalised Lab colour histogram (6x6x6 bins) of the masked pixels."""
    hist = cv2.calcHist([lab], [0, 1, 2], mask.astype(np.uint8), [6, 6, 6], [0, 256, 0, 256, 0, 256])
    return np.asarray(hist, np.float32).ravel()
