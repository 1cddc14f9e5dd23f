"""Shot boundary detection tuned for anime, and shot-list editing.

Every frame is reduced to a tiny signature (a 64x36 grey image normalised to zero mean and unit
contrast, a hue/saturation histogram and its brightness/contrast). Two frames belong to the same
shot when their normalised grey images agree after the best global shift (found by phase
correlation) or their colour histograms agree:

- normalising brightness and contrast makes fades and partial flashes invisible;
- shift compensation makes camera pans (even fast ones) invisible;
- a change is only a cut when it is large compared with the motion level around it, so frantic
  action does not split;
- flat frames (a white flash, the black middle of a fade) never start a shot: the frames on either
  side of a flat run are compared instead;
- a "cut" after which, within a few frames, the picture returns to what it was before is a flash
  or impact frame (inverted, extreme-contrast frames), not a cut. "Returns" is judged by the cut
  measure itself: frames on both sides of the change that differ by less than a cut (and far less
  than the change) are one shot, even when fast animation keeps them from being near-identical.

The detector is streaming (`CutDetector.push`), so the importer runs it in its single decoding pass
with memory bounded by a few signatures.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from app.store.manifest import Shot

__all__ = ["CutDetector", "Signature", "cuts_to_shots", "detect_cuts", "merge_shots", "signature", "split_shot"]

SIG_W, SIG_H = 64, 36
# A frame whose grey levels vary less than this (0..255 scale) is flat: white flash, black fade.
FLAT_STD = 6.0
# Change scores (`change_score`): the structural part is the mean |a - b| of normalised grey
# images, ~0 for the same picture and ~1.1 for unrelated ones (0.55 is a correlation of ~0.75).
CUT_SCORE = 0.55
# Above this a change is a cut whatever the motion around it.
HARD_SCORE = 0.90
# Between CUT_SCORE and HARD_SCORE a change must be this many times the mean change nearby.
LOCAL_RATIO = 2.5
LOCAL_SPAN = 4
# Changes below this are held drawings or noise, not motion.
HOLD_SCORE = 0.05
# How far ahead to look for the picture returning (flash / impact frames), in non-flat frames.
FLASH_WINDOW = 6
# A later frame at most this far from a pre-cut frame means the picture came back; and also one
# closer than RETURN_RATIO times the change itself, up to RETURN_CAP (in a fast action scene the
# frames on both sides of an impact frame differ by 0.4-0.65, the impact frame from both by 1.2-2;
# across a real cut the two sides differ about as much as the cut itself, unrelated pictures ~1.1).
SAME_SCORE = 0.40
RETURN_RATIO = 0.7
RETURN_CAP = 0.8


@dataclass
class Signature:
    """The tiny per-frame description the detector compares."""

    grey: np.ndarray  # float32 (SIG_H, SIG_W), zero mean, unit std (zeros when flat)
    hist: np.ndarray  # float32 (H*S,), sums to 1
    mean: float
    std: float

    @property
    def flat(self) -> bool:
        return self.std < FLAT_STD


def signature(frame: np.ndarray) -> Signature:
    """Reduce an RGB (or grey) uint8 frame of any size to a `Signature`."""
    small = cv2.resize(np.ascontiguousarray(frame), (SIG_W, SIG_H), interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean, std = float(grey.mean()), float(grey.std())
    norm = (grey - mean) / std if std >= FLAT_STD else np.zeros_like(grey)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    # Hue is meaningless for dark or grey pixels: weight each pixel by its saturation * value.
    weight = (hsv[..., 1].astype(np.float32) * hsv[..., 2].astype(np.float32)) / (255.0 * 255.0) + 0.02
    hue_bin = (hsv[..., 0].astype(np.int32) * 12) // 180
    sat_bin = np.minimum(hsv[..., 1].astype(np.int32) // 64, 3)
    hist = np.bincount((hue_bin * 4 + sat_bin).ravel(), weights=weight.ravel(), minlength=48).astype(np.float32)
    hist /= max(float(hist.sum()), 1e-6)
    return Signature(norm, hist, mean, std)


def structure_distance(a: Signature, b: Signature) -> float:
    """Mean |a - b| of the normalised grey images, after the better of no shift and the
    phase-correlation shift (so a camera pan costs little)."""
    direct = float(np.abs(a.grey - b.grey).mean())
    if direct < 0.15:
        return direct
    (dx, dy), _resp = cv2.phaseCorrelate(a.grey, b.grey)
    sx, sy = round(dx), round(dy)
    if (sx, sy) == (0, 0) or abs(sx) > SIG_W // 3 or abs(sy) > SIG_H // 3:
        return direct
    # b(x + s) ~ a(x): compare on the overlap only.
    ax0, ax1 = max(0, -sx), SIG_W - max(0, sx)
    ay0, ay1 = max(0, -sy), SIG_H - max(0, sy)
    pa = a.grey[ay0:ay1, ax0:ax1]
    pb = b.grey[ay0 + sy : ay1 + sy, ax0 + sx : ax1 + sx]
    return min(direct, float(np.abs(pa - pb).mean()))


def color_distance(a: Signature, b: Signature) -> float:
    return 0.5 * float(np.abs(a.hist - b.hist).sum())


def change_score(a: Signature, b: Signature) -> float:
    """How much the picture changed: structure, plus half the colour change (which catches cuts
    between two shots of the same layout)."""
    return structure_distance(a, b) + 0.5 * color_distance(a, b)


@dataclass
class _Entry:
    frame: int  # index of this (non-flat) frame
    sig: Signature
    score: float  # change_score against the previous non-flat frame (0 for the first)
    gap_start: int  # first flat frame between the previous non-flat frame and this one (== frame if none)


class CutDetector:
    """Streaming cut detector: `push` frames in order, then `finish`; `cuts` holds the result.

    Decisions are delayed by `FLASH_WINDOW` non-flat frames (to see whether the picture returns),
    and memory is a fixed number of signatures, whatever the video length.
    """

    def __init__(self) -> None:
        self.cuts: list[int] = []
        self._win: deque[_Entry] = deque(maxlen=FLASH_WINDOW + LOCAL_SPAN + 3)
        self._evaluated = 0  # frame index below which every entry has been decided
        self._next = 0  # index of the next pushed frame
        self._gap_start: int | None = None

    def push(self, frame: np.ndarray | Signature) -> None:
        sig = frame if isinstance(frame, Signature) else signature(frame)
        i = self._next
        self._next += 1
        if sig.flat:
            if self._gap_start is None:
                self._gap_start = i
            return
        prev = self._win[-1] if self._win else None
        score = change_score(prev.sig, sig) if prev is not None else 0.0
        self._win.append(_Entry(i, sig, score, self._gap_start if self._gap_start is not None else i))
        self._gap_start = None
        # The entry with FLASH_WINDOW successors can now be decided.
        pos = len(self._win) - 1 - FLASH_WINDOW
        if pos >= 0:
            self._decide(pos)

    def finish(self) -> list[int]:
        for pos in range(max(0, len(self._win) - FLASH_WINDOW), len(self._win)):
            self._decide(pos)
        return self.cuts

    def _returns(self, a: _Entry, b: _Entry, same: float) -> bool:
        """Whether frame ``b`` shows the picture of frame ``a`` again. Across a flat run (a white
        flash, a fade) colours are still fading back, so there only structure counts, and it must
        stay under a cut's score (two shots of one layout share much of their structure)."""
        if change_score(a.sig, b.sig) < same:
            return True
        flat_between = any(e.gap_start < e.frame for e in self._win if a.frame < e.frame <= b.frame)
        return flat_between and structure_distance(a.sig, b.sig) < min(same, CUT_SCORE)

    def _decide(self, pos: int) -> None:
        win = self._win
        e = win[pos]
        if e.frame < self._evaluated or pos == 0:
            return
        self._evaluated = e.frame + 1
        if e.score < CUT_SCORE:
            return
        # Anime is drawn "on twos/threes": held frames score ~0 and would dilute the motion level,
        # so only real changes count towards it.
        span = range(max(1, pos - LOCAL_SPAN), min(len(win), pos + LOCAL_SPAN + 1))
        near = [win[j].score for j in span if j != pos and win[j].score > HOLD_SCORE]
        local = float(np.mean(near)) if near else 0.0
        if e.score < HARD_SCORE and e.score < LOCAL_RATIO * local:
            return  # large change, but no larger than the motion around it: action, not a cut
        same = max(SAME_SCORE, min(RETURN_CAP, RETURN_RATIO * e.score))
        before = [win[pos - 1]] + ([win[pos - 2]] if pos >= 2 else [])
        for j in range(pos + 1, min(len(win), pos + 1 + FLASH_WINDOW)):
            if win[j].frame - e.frame > 2 * FLASH_WINDOW:
                break
            if any(self._returns(b, win[j], same) for b in before):
                return  # the picture comes back: this is the start of a flash or impact frames
        for j in range(pos - 2, max(-1, pos - 2 - FLASH_WINDOW), -1):
            if e.frame - win[j].frame > 2 * FLASH_WINDOW:
                break
            if self._returns(win[j], e, same):
                return  # the picture is back to what it was just before: the end of a flash
        # After a flat run (fade through black, white flash) the new shot starts mid-run.
        self.cuts.append((e.gap_start + e.frame + 1) // 2 if e.gap_start < e.frame else e.frame)


def detect_cuts(frames: Iterable[np.ndarray]) -> list[int]:
    """Frame indices where a new shot starts (never 0), from frames in order (any size, RGB)."""
    detector = CutDetector()
    for frame in frames:
        detector.push(frame)
    return detector.finish()


def cuts_to_shots(cuts: Iterable[int], frame_count: int) -> list[Shot]:
    """Shots [start, end) covering 0..frame_count from the cut list (out-of-range cuts ignored)."""
    bounds = sorted({int(c) for c in cuts if 0 < int(c) < frame_count})
    starts = [0, *bounds]
    ends = [*bounds, frame_count]
    return [Shot(s, e) for s, e in zip(starts, ends, strict=True)] if frame_count > 0 else []


def split_shot(shots: list[Shot], frame: int) -> list[Shot]:
    """A new shot list where the shot containing `frame` is split so a shot starts at `frame`."""
    out: list[Shot] = []
    for shot in shots:
        if shot.start < frame < shot.end:
            out += [Shot(shot.start, frame), Shot(frame, shot.end)]
        else:
            out.append(Shot(shot.start, shot.end))
    return out


def merge_shots(shots: list[Shot], i: int) -> list[Shot]:
    """A new shot list where shot i and shot i + 1 are one shot."""
    if not 0 <= i < len(shots) - 1:
        raise IndexError(f"cannot merge shot {i} with the next one: there are {len(shots)} shots")
    out = [Shot(s.start, s.end) for s in shots]
    out[i] = Shot(out[i].start, out[i + 1].end)
    del out[i + 1]
    return out
