"""Over a character, the drawing as frames without light show it: a reference for lasting light.

Over a character the separator's reference is the median of the frames 3 and 6 away, warped by the
flow; an aura or a burst of sparks lives 5-10 frames, so two of those four usually hold the same light
and the median takes it for the drawing. The frames on the far side of the effect's life (those where
the shot's first pass found no light) show the drawing without it, but often in another pose or
crossed by another character. Added light is smooth or moves; the character's line art and the edges
between its fills are where they were. So each far frame, warped onto the lit one, is compared with it
by its fine structure alone (the image less its blur: a smooth light falls out), and per pixel the far
frame whose structure matches best is the reference, where it matches better than the median does
and within ``tol`` levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image
from models.classical.effect_light import Box
from models.classical.effect_time import motion_neighbours


def fine_structure(image: Image) -> NDArray[np.float32]:
    """``image`` less its Gaussian blur (sigma 3 px), per channel: lines and fill edges, without the
    smooth part that an aura adds."""
    x = np.asarray(image, np.float32)
    return np.asarray(x - cv2.GaussianBlur(x, (0, 0), 3.0), np.float32)


def structure_cost(a: NDArray[np.float32], b: NDArray[np.float32], size: int = 7) -> NDArray[np.float32]:
    """How far the fine structures ``a`` and ``b`` differ round each pixel: the channels' absolute
    differences summed, averaged over a ``size`` box."""
    d = np.abs(a - b).sum(axis=2)
    return np.asarray(cv2.blur(d, (size, size)), np.float32)


def nearest_unlit(i: int, unlit: Sequence[int], count: int) -> list[int]:
    """Up to ``count`` of the ``unlit`` frames nearest to ``i`` (the nearer first, earlier on a tie)."""
    return sorted((j for j in unlit if j != i), key=lambda j: (abs(j - i), j))[:count]


def far_reference(
    frames: Sequence[Image], i: int, unlit: Sequence[int], box: Box, drawing: Image, near: Sequence[Image],
    greys: Sequence[NDArray[np.uint8]] | None = None, count: int = 4, tol: float = 96.0,
) -> tuple[Image, list[Image]]:
    """The reference over the characters of frame ``i`` in ``box`` and the neighbours that explain its
    light (`effect_time.explained`), with the ``count`` nearest ``unlit`` frames of the shot.

    ``drawing`` and ``near``: the separator's median of the near frames and those frames (over ``box``).
    Per pixel, the warped unlit frame whose fine structure is closest to the frame's is taken where its
    cost (`structure_cost`, levels summed over the channels) is under ``tol`` and under the median's;
    elsewhere the median stays. The neighbours there are the unlit frames (a lit neighbour shows the
    lasting light itself), the near ones elsewhere."""
    picks = nearest_unlit(i, unlit, count)
    if not picks:
        return drawing, list(near)
    far = motion_neighbours(frames, i, offsets=[j - i for j in picks], box=box, greys=greys)
    if not far:
        return drawing, list(near)
    y0, y1, x0, x1 = box
    mine = fine_structure(np.asarray(frames[i])[y0:y1, x0:x1])
    costs = np.stack([structure_cost(mine, fine_structure(f)) for f in far])
    best = costs.argmin(axis=0)
    low = np.take_along_axis(costs, best[None], axis=0)[0]
    take = (low < tol) & (low < structure_cost(mine, fine_structure(drawing)))
    if not take.any():
        return drawing, list(near)
    stack = np.stack(far)
    chosen = np.take_along_axis(stack, best[None, ..., None], axis=0)[0]
    reference = np.where(take[..., None], chosen, drawing).astype(np.uint8)
    n = max(len(far), len(near))
    explain = [np.where(take[..., None], far[k % len(far)], near[k % len(near)] if near else far[k % len(far)])
               .astype(np.uint8) for k in range(n)]
    return reference, explain
