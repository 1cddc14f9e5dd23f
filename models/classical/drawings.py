"""Same drawing or not: two frames that show the same picture up to compression noise.

Anime is drawn on twos and threes and holds still drawings for seconds, so most consecutive frames
of an episode are the same drawing. Measured on real clips (onepiece_demo.mp4 and the three eisai
cuts, left panels), consecutive pairs fall into two groups with nothing between them:

- the same drawing: no pixel whose 3x3-averaged difference exceeds 16 grey levels (compression
  noise is spread thin: its 99.9th percentile stays under 7 levels);
- a new drawing: from ~70 such pixels (20-26 of them above 32 levels: a small change in a wide
  shot) to whole frames - a mouth flap in a close-up changes ~1,000 pixels while the mean difference
  of the frame stays at 0.2 levels, which is why a mean-difference test alone calls animation "held".

The local level is set at 24, above what two different heavy encodings of one picture produce
(JPEG quality 70 against 95 of a cel with black outlines: 28 pixels above 16, none above 24) and
below a drawn stroke. Much heavier compression (quality 50 against 60: 21 pixels above 24) splits
some holds: the safe direction, since a split hold is only computed twice.

So a pair is held when both hold: at most `MAX_CHANGED` pixels changed locally (a few isolated
pixels are tolerated, never a stroke) and the mean difference is small (`MAX_MEAN`: a fade or a
flash over a held cel changes every pixel a little, which is not the same picture). A camera pan or
shake over a held cel moves every edge, so it is not a hold: results could not be shared without
carrying the shift. Holds never cross a cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["grey", "repeats", "same_drawing"]

LOCAL_LEVEL = 24  # grey levels of a 3x3-averaged difference that count as a drawn change
MAX_CHANGED = 8  # pixels above LOCAL_LEVEL tolerated in a held pair (isolated codec spikes)
MAX_MEAN = 2.0  # mean absolute difference (grey levels) above which the picture changed overall


def grey(frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if frame.ndim == 2:
        return frame
    # The largest channel difference would also see equal-luminance colour changes, but costs three
    # times as much; a colour change with no luminance change at all does not happen in cel paint.
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2GRAY), np.uint8)


def same_drawing(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> bool:
    """True when two frames of one size show the same drawing up to compression noise."""
    if a.shape != b.shape:
        return False
    return _same_grey(grey(a), grey(b))


def repeats(frames: Sequence[NDArray[np.uint8]]) -> list[int]:
    """For each frame, the position of the first frame before it that shows the same drawing (its
    own position when none does).

    Limited animation reuses drawings, not only holds them: a mouth flaps between two or three
    drawings, a walk or run cycles through a few (onepiece_demo.mp4: 53 drawings, 16 different
    pictures). Each frame is compared with the first frame of every picture seen so far, by the
    same test as a hold (`same_drawing`), so a repeat is what a hold would be had other drawings
    not come between."""
    firsts: list[tuple[int, NDArray[np.uint8]]] = []  # each picture's first position and grey image
    out: list[int] = []
    for i, frame in enumerate(frames):
        g = grey(np.asarray(frame))
        first = next((j for j, gj in firsts if _same_grey(gj, g)), i)
        if first == i:
            firsts.append((i, g))
        out.append(first)
    return out


def _same_grey(ga: NDArray[np.uint8], gb: NDArray[np.uint8]) -> bool:
    if ga.shape != gb.shape:
        return False
    diff = cv2.absdiff(ga, gb)
    if float(diff.mean()) > MAX_MEAN:
        return False
    local = cv2.blur(diff, (3, 3))
    return int(np.count_nonzero(local > LOCAL_LEVEL)) <= MAX_CHANGED
