"""Effects through time: the same drawing as neighbouring frames show it, and light that stays put.

Effects are short-lived and move; the drawing under them lasts. `motion_reference` rebuilds a frame
from its neighbours (light that lives a few frames drops out of their median), and
`suppress_persistent` removes detections that stay at one background place through a shot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, SoftMap
from models.classical.geometry import Matrix, model_scale, rescale_transform, resize
from models.classical.plate import masked_median, plate_size


def motion_reference(frames: Sequence[Image], i: int, offsets: Sequence[int] = (-6, -3, 3, 6)) -> Image:
    """Frame ``i`` as other frames of the shot show it: each neighbour warped onto it by dense
    optical flow (DIS), then the per-pixel median. Lasting things (the drawing) survive; light that
    lives a few frames or moves (sparks, streaks) differs between neighbours and drops out."""
    n = len(frames)
    picks = sorted({min(n - 1, max(0, i + d)) for d in offsets} - {i})
    target = np.asarray(frames[i])
    h, w = target.shape[:2]
    s = model_scale(target.shape, 480)
    grey_i: NDArray[Any] = cv2.cvtColor(resize(target, s), cv2.COLOR_RGB2GRAY)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grid = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = []
    for j in picks:
        src = np.asarray(frames[j])
        grey_j: NDArray[Any] = cv2.cvtColor(resize(src, s), cv2.COLOR_RGB2GRAY)
        flow: NDArray[Any] = dis.calc(grey_i, grey_j, None)  # type: ignore[call-overload]
        if s != 1.0:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s
        mx = grid[1] + flow[..., 0]
        my = grid[0] + flow[..., 1]
        warped.append(cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    if not warped:
        return target.copy()
    stack = np.stack(warped).astype(np.uint8)
    return masked_median(stack, np.ones(stack.shape[:3], bool))


def suppress_persistent(
    maps: Sequence[SoftMap],
    transforms: Sequence[Matrix] | None = None,
    max_fraction: float = 0.85,
    min_frames: int = 5,
) -> list[SoftMap]:
    """Damp detections that persist at the same background place for most of a shot.

    Parameters
    ----------
    maps
        Per-frame effect strengths of one shot.
    transforms
        `estimate_camera` transforms (identity when None): persistence is judged in plate
        coordinates, so a lamp that pans with the background counts as static.
    max_fraction
        A plate pixel lit in more than this fraction of the frames that saw it is background.
    min_frames
        Shorter shots are returned unchanged (too little evidence).
    """
    if len(maps) < min_frames:
        return [np.asarray(m, np.float32) for m in maps]
    shape = maps[0].shape
    ts = list(transforms) if transforms is not None else [np.eye(3) for _ in maps]
    s = model_scale(shape, 240)
    ph, pw = plate_size(ts, shape, s)
    lit = np.zeros((ph, pw), np.float32)
    seen = np.zeros((ph, pw), np.float32)
    ones = np.ones((round(shape[0] * s), round(shape[1] * s)), np.float32)
    for m, t in zip(maps, ts, strict=True):
        a = rescale_transform(np.asarray(t), s)[:2]
        lit += cv2.warpAffine((resize(m, s, cv2.INTER_AREA) > 0.5).astype(np.float32), a, (pw, ph))
        seen += cv2.warpAffine(ones, a, (pw, ph))
    frac = lit / np.maximum(seen, 1.0)
    keep_plate = np.clip((max_fraction + 0.15 - frac) / 0.15, 0.0, 1.0).astype(np.float32)
    out: list[SoftMap] = []
    for m, t in zip(maps, ts, strict=True):
        inv = np.linalg.inv(rescale_transform(np.asarray(t), s))[:2]
        k = cv2.warpAffine(keep_plate, inv, (ones.shape[1], ones.shape[0]), borderValue=1.0)
        k_full = cv2.resize(k, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        out.append(np.asarray(m * k_full, np.float32))
    return out
