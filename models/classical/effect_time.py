"""Effects through time: the same drawing as neighbouring frames show it, light that stays put, and
effects followed from frame to frame.

Effects are short-lived and move; the drawing under them lasts. `motion_reference` rebuilds a frame
from its neighbours (light that lives a few frames drops out of their median),
`suppress_persistent` removes detections that stay at one background place through a shot, and
`keep_lasting_groups` keeps small detections that an effect carries through several frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, SoftMap
from models.classical.effect_light import Box
from models.classical.geometry import Matrix, model_scale, rescale_transform, resize
from models.classical.morphology import dilate
from models.classical.plate import masked_median, plate_size


def motion_reference(frames: Sequence[Image], i: int, offsets: Sequence[int] = (-6, -3, 3, 6)) -> Image:
    """Frame ``i`` as other frames of the shot show it: each neighbour warped onto it by dense
    optical flow (DIS), then the per-pixel median. Lasting things (the drawing) survive; light that
    lives a few frames or moves (sparks, streaks) differs between neighbours and drops out."""
    warped = motion_neighbours(frames, i, offsets)
    if not warped:
        return np.asarray(frames[i]).copy()
    stack = np.stack(warped).astype(np.uint8)
    return masked_median(stack, np.ones(stack.shape[:3], bool))


def middle(images: Sequence[Image]) -> Image:
    """Per-pixel median of ``images`` (the upper middle one of an even count), as `masked_median`
    gives it with every entry valid; up to four images by a min/max network (5x cheaper than a
    partition along the stacking axis)."""
    a = [np.asarray(x, np.uint8) for x in images]
    if len(a) == 1:
        return a[0].copy()
    if len(a) == 2:
        return np.maximum(a[0], a[1])
    if len(a) == 3:
        return np.maximum(np.minimum(a[0], a[1]), np.minimum(np.maximum(a[0], a[1]), a[2]))
    if len(a) == 4:
        # The second largest: the smaller of the two pairs' maxima, unless a pair's minimum beats it.
        lo1, hi1 = np.minimum(a[0], a[1]), np.maximum(a[0], a[1])
        lo2, hi2 = np.minimum(a[2], a[3]), np.maximum(a[2], a[3])
        return np.maximum(np.maximum(np.minimum(hi1, hi2), lo1), lo2)
    stack = np.stack(a)
    return masked_median(stack, np.ones(stack.shape[:3], bool))


def flow_greys(frames: Sequence[Image]) -> list[NDArray[np.uint8]]:
    """The frames as `motion_neighbours` estimates flow between them: grey, at most 480 px."""
    return [np.asarray(cv2.cvtColor(resize(np.asarray(f), model_scale(np.asarray(f).shape, 480)), cv2.COLOR_RGB2GRAY),
                       np.uint8) for f in frames]


def motion_neighbours(frames: Sequence[Image], i: int, offsets: Sequence[int] = (-6, -3, 3, 6),
                      box: Box | None = None, greys: Sequence[NDArray[np.uint8]] | None = None) -> list[Image]:
    """The neighbours of frame ``i`` at ``offsets`` (clamped to the shot), each warped onto it by
    dense optical flow (DIS); with ``box`` ``(y0, y1, x0, x1)`` only those pixels of frame ``i``
    (the flow is still estimated over the whole frame: cropping would change it). ``greys``: the
    frames' `flow_greys`, when a caller computes them once for every frame."""
    n = len(frames)
    picks = sorted({min(n - 1, max(0, i + d)) for d in offsets} - {i})
    target = np.asarray(frames[i])
    h, w = target.shape[:2]
    y0, y1, x0, x1 = (0, h, 0, w) if box is None else box
    s = model_scale(target.shape, 480)
    grey_i = greys[i] if greys is not None else flow_greys([target])[0]
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    # The pixel grid as a row and a column: added to the flow by broadcasting (the same float32 sums).
    gx = np.arange(x0, x1, dtype=np.float32)
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    warped = []
    for j in picks:
        src = np.asarray(frames[j])
        grey_j = greys[j] if greys is not None else flow_greys([src])[0]
        flow: NDArray[Any] = dis.calc(grey_i, grey_j, None)  # type: ignore[call-overload]
        if s != 1.0:
            flow = upsample_box(flow, (h, w), (y0, y1, x0, x1))
            np.divide(flow, s, out=flow)  # a fresh array: in place
        else:
            flow = flow[y0:y1, x0:x1].copy()
        # The map in place, as one two-channel map: remap rounds it exactly as the two planes.
        flow[..., 0] += gx
        flow[..., 1] += gy
        out = cv2.remap(src, flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]
        warped.append(np.asarray(out, np.uint8))
    return warped


def upsample_box(small: NDArray[Any], size: tuple[int, int], box: Box) -> NDArray[Any]:
    """``cv2.resize(small, size[::-1], INTER_LINEAR)[box]``, the same values, resizing only the
    part of ``small`` under the box (and 1 px around it) when the frame is ``small`` scaled by a power
    of two: then every output pixel samples ``small`` at the same fraction however it is cropped."""
    h, w = size
    sh, sw = small.shape[:2]
    y0, y1, x0, x1 = box
    k = w // sw
    if k < 2 or k & (k - 1) or sw * k != w or sh * k != h:
        return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))[y0:y1, x0:x1]
    sy0, sx0 = max(0, y0 // k - 1), max(0, x0 // k - 1)
    sy1, sx1 = min(sh, (y1 - 1) // k + 2), min(sw, (x1 - 1) // k + 2)
    part = cv2.resize(np.ascontiguousarray(small[sy0:sy1, sx0:sx1]), ((sx1 - sx0) * k, (sy1 - sy0) * k),
                      interpolation=cv2.INTER_LINEAR)
    return np.asarray(part)[y0 - sy0 * k : y1 - sy0 * k, x0 - sx0 * k : x1 - sx0 * k]


def explained(image: Image, neighbours: Sequence[Image], where: NDArray[np.bool_], reach: int = 1,
              tol: float = 12.0) -> NDArray[np.bool_]:
    """Pixels of ``where`` that some warped neighbour (the shape of ``image``) shows within ``reach``
    px and ``tol`` levels in every channel: the drawing a flow slightly misplaced, not light that
    lives a few frames. False elsewhere."""
    out = np.zeros(image.shape[:2], bool)
    ys, xs = np.nonzero(where)
    if len(ys) == 0:
        return out
    # "Within tol in every channel" is one cv2.inRange against per-pixel bounds (uint8 saturation
    # is harmless: a neighbour's value lies in 0..255 anyway), on the pixels of ``where`` alone (a
    # few percent of their box), gathered; a pixel one neighbour shows is not looked at again.
    t = int(np.floor(tol))
    img = np.ascontiguousarray(image[ys, xs], np.uint8).reshape(-1, 1, 3)
    lo = cv2.subtract(img, np.full_like(img, t))
    hi = cv2.add(img, np.full_like(img, t))
    todo = np.arange(len(ys))  # the pixels no neighbour has shown yet
    for n in neighbours:
        pad = cv2.copyMakeBorder(np.asarray(n, np.uint8), reach, reach, reach, reach, cv2.BORDER_REPLICATE)
        flat = pad.reshape(-1, 3)
        for dy in range(2 * reach + 1):
            for dx in range(2 * reach + 1):
                if len(todo):
                    near = np.take(flat, (ys[todo] + dy) * pad.shape[1] + xs[todo] + dx, axis=0)
                    todo = todo[cv2.inRange(near.reshape(-1, 1, 3), lo[todo], hi[todo]).ravel() == 0]
    shown = np.ones(len(ys), bool)
    shown[todo] = False
    out[ys, xs] = shown
    return out


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


def keep_lasting_groups(
    maps: Sequence[SoftMap], min_pixels: float, reach: int, threshold: float = 0.25, min_frames: int = 2,
    crumbs: float = 0.1, streak: float = 0.0, elongation: float = 5.0,
) -> list[SoftMap]:
    """Drop detections whose group, followed through neighbouring frames, stays small.

    A group is what lies within ``reach`` px of each other in a frame (a burst of sparks, a bundle of
    streaks); groups of consecutive frames that touch are one effect through time. An effect is kept
    when one of its frames holds ``min_pixels`` pixels above ``threshold``, or when it lasts
    ``min_frames`` frames and holds ``min_frames * min_pixels`` over them all: a burst of sparks is a
    few dozen pixels a frame, scattered, but it lasts, where a false speck seldom does. With
    ``streak`` > 0, an effect that lasts ``min_frames`` frames is also kept when one of its groups is
    a streak (`streaks`: at least ``streak`` px long, ``elongation`` times longer than wide): a lone
    speed line or a spark's trail holds few pixels, but few false detections are long straight lines. Within a kept effect, a frame's group of
    fewer than ``crumbs * min_pixels`` pixels (all its groups together) goes.
    """
    if not maps:
        return []
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    h, w = maps[0].shape
    # Each frame's groups (its detections grown by ``reach``) and what goes with them (their halo,
    # 2 px more) lie in the box of its detections grown by ``reach + 3``: each frame is worked on
    # there alone, and consecutive frames where their boxes meet.
    boxes: list[Box | None] = []
    on: list[NDArray[np.uint8]] = []
    for m in maps:
        o = np.asarray(m >= threshold, np.uint8)
        x, y, bw, bh = cv2.boundingRect(o)
        # A flash lights most of its frame: it is no group, and would join every effect around it into one.
        if bw == 0 or bh == 0 or float(o.mean()) > 0.25:
            boxes.append(None)
            on.append(np.zeros((0, 0), np.uint8))
            continue
        g = reach + 3
        y0, y1, x0, x1 = max(0, y - g), min(h, y + bh + g), max(0, x - g), min(w, x + bw + g)
        boxes.append((y0, y1, x0, x1))
        on.append(np.ascontiguousarray(o[y0:y1, x0:x1]))
    labels: list[NDArray[np.int32]] = []
    offset = [0]
    for o in on:
        # The disc row by row (`morphology.dilate`: OpenCV's result, 3x cheaper for this 45 px disc).
        n, lab = cv2.connectedComponents(dilate(o, disk), connectivity=8) if o.size else (1, np.zeros(o.shape, np.int32))
        # Labels 1..n-1 of the frame become the next n-1 of the shot (0 stays 0), by one look-up.
        shot_label = np.arange(offset[-1], offset[-1] + n, dtype=np.int32)
        shot_label[0] = 0
        labels.append(shot_label[lab])
        offset.append(offset[-1] + n)
    total = offset[-1] + 1
    parent = np.arange(total)

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = int(parent[k])
        return k

    for k in range(len(maps) - 1):
        ba, bb = boxes[k], boxes[k + 1]
        if ba is None or bb is None:
            continue
        y0, y1, x0, x1 = max(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), min(ba[3], bb[3])
        if y0 >= y1 or x0 >= x1:
            continue
        a = labels[k][y0 - ba[0] : y1 - ba[0], x0 - ba[2] : x1 - ba[2]]
        b = labels[k + 1][y0 - bb[0] : y1 - bb[0], x0 - bb[2] : x1 - bb[2]]
        both = (a > 0) & (b > 0)
        touching = a[both].astype(np.int64) * total + b[both]
        # Runs of one pair along a row are one pair: np.unique sorts the rest (the same set).
        pairs = np.unique(touching[np.flatnonzero(np.diff(touching, prepend=-1))])
        for p, q in zip((pairs // total).tolist(), (pairs % total).tolist(), strict=True):
            rp, rq = root(p), root(q)
            if rp != rq:
                parent[rq] = rp
    roots = np.array([root(k) for k in range(total)])
    area = np.zeros(total)
    best = np.zeros(total)
    frames = np.zeros(total)
    streaky = np.zeros(total, bool)
    for k, (lab, o) in enumerate(zip(labels, on, strict=True)):
        if streak > 0:
            streaky[roots[streaks(lab, o, streak, elongation)]] = True
        per = np.bincount(roots[lab[o > 0]], minlength=total).astype(np.float64)
        area += per
        best = np.maximum(best, per)
        present = np.arange(offset[k] + 1, offset[k + 1])  # connectedComponents uses every label it counts
        frames += np.bincount(roots[present], minlength=total) > 0
    keep = (best >= min_pixels) | ((frames >= min_frames) & (area >= min_frames * min_pixels))
    keep |= streaky & (frames >= min_frames)
    keep[0] = False
    out = []
    for m, lab, o, where in zip(maps, labels, on, boxes, strict=True):
        m = np.array(m, np.float32)
        if where is not None:
            # In a lasting effect's frame, a few pixels alone are what it leaves as it fades, or noise.
            here = np.bincount(roots[lab[o > 0]], minlength=total) >= crumbs * min_pixels
            # Faint light around a dropped group (its halo) goes with it; light outside any group stays.
            # Dropped per label first, then one look-up per pixel (not a root, then a verdict, each).
            dropped = (~(keep & here)[roots]).astype(np.uint8)
            dropped[0] = 0  # no group
            gone = cv2.dilate(dropped[lab], np.ones((5, 5), np.uint8)) > 0
            m[where[0] : where[1], where[2] : where[3]][gone] = 0.0
        out.append(m)
    return out


def streaks(labels: NDArray[np.int32], on: NDArray[np.uint8], length: float, elongation: float) -> NDArray[np.intp]:
    """The labels whose pixels (where ``on``) lie along a streak at least ``length`` px long and
    ``elongation`` times longer than wide, from the second moments of their coordinates (a uniform
    segment of length L has variance L^2 / 12 along it)."""
    ys, xs = np.nonzero(on)
    if len(ys) == 0:
        return np.zeros(0, np.intp)
    g = labels[ys, xs]
    n = int(g.max()) + 1
    count = np.bincount(g, minlength=n).astype(np.float64)
    c = np.maximum(count, 1.0)
    y, x = ys.astype(np.float64), xs.astype(np.float64)
    my, mx = np.bincount(g, y, n) / c, np.bincount(g, x, n) / c
    vy = np.bincount(g, y * y, n) / c - my * my
    vx = np.bincount(g, x * x, n) / c - mx * mx
    vxy = np.bincount(g, y * x, n) / c - my * mx
    half, det = (vy + vx) / 2, vy * vx - vxy * vxy
    spread = np.sqrt(np.maximum(half * half - det, 0.0))
    long_ = np.sqrt(12.0 * (half + spread))
    wide = np.sqrt(12.0 * np.maximum(half - spread, 0.0)) + 1.0  # + 1: a one-pixel line has no variance across
    ok = (count > 0) & (long_ >= length) & (long_ >= elongation * wide)
    ok[0] = False
    return np.flatnonzero(ok)
