"""The background behind a character's edge, for the matte: what the shot's other frames show there.

`ClassicalInpainter.stitch` makes whole clean plates: for each frame it warps every source frame into
the box around the hole, takes the per-pixel median of the sources that see the background, and
inpaints what none sees. The matte reads that plate only in a band along the mask's edge (the
pixels ``matting.ClassicalMatter._matte_near`` compares with the frame: out to its reach, in to
where the mask is deep) and only where a source saw it. This module computes exactly that: the same
sources, warps and median (bicubic from each source through the camera, a source's hidden pixels
and one more left out), but only at the band's pixels, gathered, and with no spatial fill. At 1080p a
large character's box holds about four times the band's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask
from models.classical.camera import estimate_camera, refine_camera
from models.classical.geometry import Matrix
from models.classical.inpaint import stray_frames
from models.classical.plate import masked_median, sample_indices

K3 = np.ones((3, 3), np.uint8)
MAX_SOURCES = 16  # frames of the shot sampled as sources (the inpainter's default)
MAP_COLUMNS = 1024  # gathered pixels are remapped as rows of this many (cv2 maps stay < 32767 wide)


def shot_camera(frames: Sequence[Image], holes: Sequence[Mask]) -> list[Matrix]:
    """The shot's camera when none is given: estimated with the holes kept out and refined against
    the median plate without the strays, as the inpainter's `stitch` does."""
    ts = estimate_camera(frames, foreground=list(holes))
    if len(frames) < 2:
        return ts
    strays = set(stray_frames(frames, ts, holes)) if len(frames) >= 3 else set()
    everything = np.ones(np.asarray(holes[0]).shape, bool)
    return refine_camera(frames, ts, [everything if i in strays else h for i, h in enumerate(holes)])


def known_background(
    frames: Sequence[Image], hidden: Sequence[Mask], transforms: Sequence[Matrix], bands: dict[int, Mask],
) -> dict[int, tuple[Image, Mask]]:
    """For each frame ``i`` of ``bands``: the background the shot's other frames show at the pixels
    of ``bands[i]`` (the frame itself elsewhere) and where they show it (``hidden``: what covers the
    background in each frame)."""
    n = len(frames)
    if n < 2 or not bands:
        return {i: (np.asarray(frames[i]).copy(), np.zeros(np.asarray(m).shape, bool)) for i, m in bands.items()}
    strays = set(stray_frames(frames, transforms, hidden)) if n >= 3 else set()
    sources = [j for j in sample_indices(n, MAX_SOURCES) if j not in strays]
    # Where a source shows background: not what hides it, nor a pixel more (its soft fringe).
    seen = {j: np.where(cv2.dilate(np.asarray(hidden[j], np.uint8), K3) > 0, 0, 255).astype(np.uint8)
            for j in sources}
    out: dict[int, tuple[Image, Mask]] = {}
    for i, band in bands.items():
        frame = np.asarray(frames[i])
        background, known = frame.copy(), np.zeros(frame.shape[:2], bool)
        ys, xs = np.nonzero(band)
        others = [j for j in sources if j != i]
        if len(ys) and others:
            colours, votes = _sample(frames, seen, transforms, i, others, ys, xs)
            trusted = votes >= 1
            background[ys[trusted], xs[trusted]] = colours[trusted]
            known[ys[trusted], xs[trusted]] = True
        out[i] = (background, known)
    return out


def _sample(
    frames: Sequence[Image], seen: dict[int, NDArray[np.uint8]], transforms: Sequence[Matrix], i: int,
    others: list[int], ys: NDArray[np.intp], xs: NDArray[np.intp],
) -> tuple[NDArray[np.uint8], NDArray[np.intp]]:
    """Median colour over ``others`` at frame ``i``'s pixels ``(ys, xs)`` of the sources that see the
    background there, and how many do."""
    count = len(ys)
    rows = -(-count // MAP_COLUMNS)
    shape = (rows, MAP_COLUMNS)
    # The pixels as rows of a map (the last row padded with its first pixel).
    px = np.full(rows * MAP_COLUMNS, xs[0], np.float32)
    py = np.full(rows * MAP_COLUMNS, ys[0], np.float32)
    px[:count], py[:count] = xs, ys
    px, py = px.reshape(shape), py.reshape(shape)
    stack = np.empty((len(others), *shape, 3), np.uint8)
    valid = np.empty((len(others), *shape), np.uint8)
    for k, j in enumerate(others):
        # Frame i pixel -> plate (t_i) -> frame j pixel (inverse t_j).
        m = (np.linalg.inv(transforms[j]) @ transforms[i])[:2].astype(np.float32)
        mx = m[0, 0] * px + m[0, 1] * py + m[0, 2]
        my = m[1, 0] * px + m[1, 1] * py + m[1, 2]
        # Bicubic: a bilinear shift by half a pixel is a blur that costs dB on painted texture.
        cv2.remap(np.asarray(frames[j]), mx, my, cv2.INTER_CUBIC, dst=stack[k], borderMode=cv2.BORDER_REPLICATE)
        # Not off the frame border, where a pan reveals new background (replicated).
        cv2.remap(seen[j], mx, my, cv2.INTER_NEAREST, dst=valid[k])
    ok = valid.reshape(len(others), -1)[:, :count] > 0
    colours = masked_median(stack.reshape(len(others), -1, 3)[:, :count], ok)
    return colours, ok.sum(axis=0)

