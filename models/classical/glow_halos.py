"""A glow's halo cut from the character mask it hugs: smooth light that fades out past the mask's edge.

An aura is brightest right outside its character's outline and fades over a few pixels; the segmenter
takes its inner part into the character's mask (it is bright, it moves with the character, and the
plate under it is seen by no frame, so `plate_check` cannot cut it; `outline_snap` keeps it as a run
brighter than the wall beside it). Measured on the 10 tuning seeds of
`benchmarks/segment_generated.py` (round 19): the character masks hold background lit by an effect
for 0.0445 of the true characters' pixels, 0.026 of it a character's own glow, 0.005 another's, 0.008
speed lines, 0.003 flashes, 0.002 sparks; half of it lies within 2 px of the character.

A halo differs from the character in each drawing: it holds no line art and no sharp colour step (the
light changes by a few levels a pixel), it continues across the mask's edge into the wall outside
without an edge, it is brighter than that wall, and its colours are no fills of the shot (a fading
glow spreads over many colours; a character's fills recur frame after frame, `effect_palette`). Per
drawing and character: the 4-connected runs of the mask's smooth pixels (no line art, largest colour
step to a 4-neighbour under `SMOOTH`) that meet the outside mostly without a step, are `BRIGHTER` than
the outside pixels they meet, are not white (`LIGHT`: white clothes next to a white wall meet it
without a step too) and are mostly no fill (`FILL`) are cut. The effects stage then reads the halo
as light outside the mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.effect_palette import Palette, shot_palette
from models.classical.filters import colour_distance, line_art

# Largest Lab step (uint8 Lab) to a 4-neighbour of a halo pixel: a glow right at its character is
# steep (tuning seeds, char IoU: 12 / 20 / 25 / 30 -> 0.7290 / 0.7297 / 0.7289 / 0.7259 with `FILL`
# 0.01; 30 reaches into skin and hair through gaps in the line art).
SMOOTH = 20.0
MEETS = 0.5  # share of a run's pairs with the outside that are smooth, at least
MIN_PAIRS = 3  # a run that meets the outside at fewer pixels says nothing
BRIGHTER = 8.0  # luminance levels the run is brighter than the outside pixels it meets, at least
LIGHT = 200.0  # a run whose darkest channel is this light on average is white clothes: kept
# A colour whose share of the shot's mask pixels (and round its bin, `effect_palette`) is this or more
# is a character fill; a run half or more fills is the character (tuning seeds: no test / 0.002 /
# 0.01 / 0.03 -> char IoU 0.7289 / 0.7279 / 0.7297 / 0.7297; 0.002 takes the halo's own colours too,
# as the masks hold it in every drawing).
FILL = 0.01
FILL_RUN = 0.5
_PAIRS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def cut_halos(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> list[Labels]:
    """``labels`` with each drawing's characters' halo runs cut (see the module docstring); other
    kinds (text, effects) stay."""
    palette = shot_palette([np.asarray(f) for f in frames], [np.asarray(lab) > 0 for lab in labels])
    out = []
    for image, lab, kind in zip(frames, labels, kinds, strict=True):
        characters = [k for k, v in kind.items() if v == "character"]
        out.append(cut_drawing(np.asarray(image), np.asarray(lab), characters, palette) if characters
                   else np.asarray(lab))
    return out


def cut_drawing(image: Image, labels: Labels, characters: Sequence[int], palette: Palette | None) -> Labels:
    """One drawing's ``labels`` with the halo runs of ``characters``' masks set to 0."""
    img = np.asarray(image, np.uint8)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    steps = [_step(lab, dy, dx) for dy, dx in _PAIRS]
    smooth = np.max(steps, axis=0) <= SMOOTH
    strokes = line_art(img)
    outside = (labels == 0) & ~strokes
    lum = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    fill = palette.share(img) >= FILL if palette is not None else np.zeros(labels.shape, bool)
    out = np.array(labels, copy=True)
    for k in characters:
        n, runs = cv2.connectedComponents(((labels == k) & ~strokes & smooth).astype(np.uint8), connectivity=4)
        if n <= 1:
            continue
        pairs, calm, beside = np.zeros(n), np.zeros(n), np.zeros(n)
        for (dy, dx), step in zip(_PAIRS, steps, strict=True):
            on = (runs > 0) & _neighbours(outside, dy, dx)
            pairs += np.bincount(runs[on], minlength=n)
            calm += np.bincount(runs[on & (step <= SMOOTH)], minlength=n)
            beside += np.bincount(runs[on], weights=_neighbours(lum, dy, dx)[on], minlength=n)
        flat = runs.ravel()
        size = np.maximum(1, np.bincount(flat, minlength=n))
        brighter = np.bincount(flat, weights=lum.ravel(), minlength=n) / size - beside / np.maximum(pairs, 1)
        white = np.bincount(flat, weights=img.min(axis=2).ravel(), minlength=n) >= LIGHT * size
        fills = np.bincount(flat, weights=fill.ravel().astype(np.float64), minlength=n) >= FILL_RUN * size
        halo = (pairs >= MIN_PAIRS) & (calm >= MEETS * pairs) & (brighter >= BRIGHTER) & ~white & ~fills
        halo[0] = False
        out[halo[runs]] = 0
    return out


def _neighbours(a: NDArray[np.generic], dy: int, dx: int) -> NDArray[np.generic]:
    """``a`` moved so that each pixel holds its neighbour at (-dy, -dx); the rolled-in border is 0."""
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = a[max(0, -dy):h + min(0, -dy), max(0, -dx):w + min(0, -dx)]
    return out


def _step(lab: NDArray[np.float32], dy: int, dx: int) -> NDArray[np.float32]:
    """Per pixel, the Lab distance to its neighbour at (-dy, -dx) (to black at the border, a step)."""
    return np.asarray(colour_distance(lab, np.asarray(_neighbours(lab, dy, dx), np.float32)), np.float32)
