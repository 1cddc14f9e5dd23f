"""Camera motion within a shot: one frame-to-plate transform per frame (`estimate_camera`), refined
to sub-pixel accuracy against the shot's median plate (`refine_camera`).

Anime backgrounds are mostly static paintings that the camera pans across or zooms into, so one
similarity transform per frame explains the background well. Estimation runs on grey frames scaled
to a long side of ~480 px. Each frame is matched against a keyframe (not only the previous frame) so
slow pans do not accumulate sub-pixel drift.

One module (~340 lines) on purpose: the estimate and its refinement are one algorithm over the same
frames, scales and border weighting; the geometry and the plate they feed are `geometry` and `plate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask
from models.classical.geometry import (
    MODEL_SIDE,
    Matrix,
    _grey,
    from_origin,
    model_scale,
    rescale_transform,
    scale_matrix,
)
from models.classical.plate import build_plate
from models.classical.threads import results_in_order

BORDER_GAIN = 4.0

Features = tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.uint8] | None, NDArray[np.bool_]]


class _Matcher:
    """Candidate camera motions (ORB + RANSAC, prior-guided ORB, phase correlation, the prior
    itself, no motion), each judged by how many textured pixels it brings into agreement.

    Anime backgrounds repeat (windows, tiles, fences) and characters carry many corners, so the
    feature consensus alone is often wrong; a photometric check on the background is not.
    """

    def __init__(self) -> None:
        self.orb = cv2.ORB.create(nfeatures=1500, edgeThreshold=15, patchSize=15, fastThreshold=7)
        self.bf = cv2.BFMatcher(cv2.NORM_HAMMING)

    def features(self, grey: NDArray[np.uint8], fg: NDArray[np.bool_] | None = None) -> Features:
        """Corners, descriptors and textured pixels, none of them on ``fg`` (known foreground)."""
        allowed = None if fg is None else np.where(fg, 0, 255).astype(np.uint8)
        kps, desc = self.orb.detectAndCompute(grey, allowed)
        pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
        half = cv2.GaussianBlur(cv2.pyrDown(grey), (3, 3), 0)
        gx = cv2.Sobel(half, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(half, cv2.CV_32F, 0, 1)
        textured = np.asarray(np.hypot(gx, gy) > 40.0)
        if fg is not None:
            textured &= cv2.resize(fg.astype(np.uint8), textured.shape[::-1], interpolation=cv2.INTER_NEAREST) == 0
        return grey, pts, (None if desc is None else np.asarray(desc, np.uint8)), textured

    def score(self, ref: Features, cur: Features, p: Matrix) -> float:
        """Share of the reference's textured pixels that ``p`` (cur -> ref) makes agree."""
        a = cv2.GaussianBlur(cv2.pyrDown(ref[0]), (3, 3), 0)
        b = cv2.GaussianBlur(cv2.pyrDown(cur[0]), (3, 3), 0)
        m = rescale_transform(p, a.shape[1] / ref[0].shape[1])[:2]
        size = (a.shape[1], a.shape[0])
        warped = cv2.warpAffine(b, m, size, flags=cv2.INTER_LINEAR)
        seen = cv2.warpAffine(np.full(b.shape, 255, np.uint8), m, size, flags=cv2.INTER_NEAREST) > 0
        tex = ref[3]
        agree = (np.abs(a.astype(np.int16) - warped.astype(np.int16)) < 10) & seen & tex
        w = _border_weight(tex.shape)
        return float(w[agree].sum()) / max(1.0, float(w[tex].sum()))

    def _ransac(self, src: NDArray[np.float32], dst: NDArray[np.float32], thr: float) -> Matrix | None:
        """RANSAC similarity, then refitted as zoom + pan without rotation (anime cameras rarely
        roll, and a free rotation soaks up foreground matches)."""
        if len(src) < 8:
            return None
        a, inl = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=thr, maxIters=2000, confidence=0.995,
            refineIters=20,
        )
        if a is None or inl is None or int(inl.sum()) < 8:
            return None
        m = np.vstack([a, [0.0, 0.0, 1.0]])
        if abs(float(np.arctan2(a[1, 0], a[0, 0]))) < 0.03:
            for _ in range(2):
                keep = np.hypot(*(_apply(m, src) - dst).T) < thr
                if keep.sum() < 8:
                    break
                m = _fit_zoom_pan(src[keep], dst[keep])
        if not 0.75 < float(m[0, 0]) < 1.33 and not 0.75 < float(np.hypot(m[0, 0], m[1, 0])) < 1.33:
            return None
        return m

    def _votes(self, src: NDArray[np.float32], dst: NDArray[np.float32], peaks: int = 4) -> list[Matrix]:
        """Translations most voted for by the matches, each refitted on its own voters.

        A character that fills half the frame brings its own consensus, and RANSAC follows the
        larger one; the background is nearly always among the few strongest peaks, and the
        photometric score then tells which peak it is.
        """
        if len(src) < 8:
            return []
        d = (dst - src).astype(np.float64)
        bins = np.round(d / 2.0).astype(np.int64)
        lo = bins.min(axis=0) - 1
        idx = bins - lo
        grid = np.zeros((int(idx[:, 1].max()) + 2, int(idx[:, 0].max()) + 2), np.float32)
        np.add.at(grid, (idx[:, 1], idx[:, 0]), 1.0)
        # Sum over neighbouring bins so a peak split across a bin edge is not lost.
        votes = cv2.boxFilter(grid, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        out: list[Matrix] = []
        for _ in range(peaks):
            y, x = np.unravel_index(int(np.argmax(votes)), votes.shape)
            if votes[y, x] < 6:
                break
            votes[max(0, y - 2):y + 3, max(0, x - 2):x + 3] = 0
            centre = 2.0 * (np.array([x, y]) + lo)
            near = np.abs(d - centre).max(axis=1) <= 3.0
            t = np.median(d[near], axis=0)
            m = np.array([[1.0, 0.0, t[0]], [0.0, 1.0, t[1]], [0.0, 0.0, 1.0]])
            out.append(m)
            fit = self._ransac(src[near], dst[near], 1.5)
            if fit is not None:
                out.append(fit)
        return out

    def match(self, ref: Features, cur: Features, prior: Matrix) -> tuple[Matrix, float]:
        """Best transform mapping ``cur`` coordinates to ``ref`` coordinates, and its score."""
        if np.array_equal(ref[0], cur[0]):
            return np.eye(3), 1.0
        cands: list[Matrix] = [prior, np.eye(3)]
        src = dst = np.zeros((0, 2), np.float32)
        if ref[2] is not None and cur[2] is not None and len(ref[1]) >= 8 and len(cur[1]) >= 8:
            pairs = [m for m in self.bf.knnMatch(cur[2], ref[2], k=2) if len(m) == 2]
            good = [m[0] for m in pairs if m[0].distance < 0.8 * m[1].distance]
            p = self._ransac(cur[1][[m.queryIdx for m in good]], ref[1][[m.trainIdx for m in good]], 1.5)
            if p is not None:
                cands.append(p)
            # Repeated texture defeats the ratio test: keep both nearest matches, let the prior choose.
            flat = [m for pair in pairs for m in pair]
            src = cur[1][[m.queryIdx for m in flat]]
            dst = ref[1][[m.trainIdx for m in flat]]
            near = np.hypot(*(_apply(prior, src) - dst).T) < 6.0
            p = self._ransac(src[near], dst[near], 1.5)
            if p is not None:
                cands.append(p)
            cands += self._votes(src, dst)
        win = cv2.createHanningWindow(ref[0].shape[::-1], cv2.CV_32F)
        (dx, dy), resp = cv2.phaseCorrelate(cur[0].astype(np.float32), ref[0].astype(np.float32), win)
        if resp > 0.05:
            cands.append(np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy], [0.0, 0.0, 1.0]]))
        scores = [self.score(ref, cur, c) for c in cands]
        best = int(np.argmax(scores))
        p_best, s_best = cands[best], scores[best]
        if len(src):
            # Polish: the features that agree with the winner give a sub-pixel fit.
            near = np.hypot(*(_apply(p_best, src) - dst).T) < 2.0
            p = self._ransac(src[near], dst[near], 1.0)
            if p is not None:
                sp = self.score(ref, cur, p)
                if sp >= s_best - 0.01:
                    p_best, s_best = p, sp
        return p_best, s_best


def _border_weight(shape: tuple[int, ...]) -> NDArray[np.float32]:
    """Weights that grow towards the frame border.

    Characters are framed towards the middle; the border is nearly always background, so a
    motion that explains the border is preferred to one that explains a large character.
    """
    h, w = shape[:2]
    ry = np.abs(np.linspace(-1.0, 1.0, h, dtype=np.float32))[:, None]
    rx = np.abs(np.linspace(-1.0, 1.0, w, dtype=np.float32))[None, :]
    return np.asarray(1.0 + BORDER_GAIN * np.maximum(rx, ry) ** 2, np.float32)


def _root(m: Matrix, k: int) -> Matrix:
    """Approximate k-th root of a near-identity similarity (per-frame motion over a gap)."""
    if k <= 1:
        return m
    r = np.eye(3)
    r[:2] = np.eye(3)[:2] + (m[:2] - np.eye(3)[:2]) / k
    return r


def _fit_zoom_pan(src: NDArray[np.float32], dst: NDArray[np.float32]) -> Matrix:
    """Least-squares ``dst = z * src + t`` (uniform zoom and translation)."""
    n = len(src)
    a = np.zeros((2 * n, 3))
    a[0::2, 0], a[0::2, 1] = src[:, 0], 1.0
    a[1::2, 0], a[1::2, 2] = src[:, 1], 1.0
    z, tx, ty = np.linalg.lstsq(a, dst.reshape(-1).astype(np.float64), rcond=None)[0]
    return np.array([[z, 0.0, tx], [0.0, z, ty], [0.0, 0.0, 1.0]])


def _apply(t: Matrix, pts: NDArray[np.float32]) -> NDArray[np.float64]:
    return np.asarray(pts @ t[:2, :2].T + t[:2, 2])


def estimate_camera(
    frames: Sequence[Image], long_side: int = MODEL_SIDE, foreground: Sequence[Mask | None] | None = None,
    times: Sequence[int] | None = None, tick: Callable[[], None] | None = None,
) -> list[Matrix]:
    """Estimate one frame-to-plate transform per frame of a shot.

    Each frame is matched to the current keyframe with a constant-velocity prior; a weak match
    is also tried against the previous frame, and a new keyframe starts when the view has moved
    far or the match weakened.

    Parameters
    ----------
    frames
        The shot (may be lazy; each frame is read once).
    long_side
        Modelling resolution.
    foreground
        Optional known foreground per frame (any resolution): no features or agreement are taken
        there, so large characters cannot pull the estimate.
    times
        Optional frame index of each of ``frames`` (increasing), when they are not consecutive frames
        (e.g. a shot's drawings, one per hold): the constant-velocity prior steps by these.
    tick
        Called after each frame; what it raises stops the estimate (the pipeline's cancel).

    Returns
    -------
    list of ``3x3`` float64 matrices in full-resolution coordinates, shifted so that every frame
    maps to non-negative plate coordinates. A 1-frame shot gets the identity.
    """
    n = len(frames)
    if n == 0:
        return []
    at = list(times) if times is not None else list(range(n))
    first = frames[0]
    h, w = first.shape[:2]
    s = model_scale(first.shape, long_side)
    matcher = _Matcher()
    def fg_at(i: int) -> NDArray[np.bool_] | None:
        if foreground is None or foreground[i] is None:
            return None
        m = np.asarray(foreground[i], np.uint8)
        size = (round(w * s), round(h * s))
        return np.asarray(cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) > 0)

    key = prev = matcher.features(_grey(first, s), fg_at(0))
    key_t = prev_t = np.eye(3)
    step = np.eye(3)  # per-frame motion of the last reliable pair
    prev_i = 0
    small: list[Matrix] = [np.eye(3)]
    for i in range(1, n):
        if tick is not None:
            tick()
        cur = matcher.features(_grey(frames[i], s), fg_at(i))
        pred = prev_t @ np.linalg.matrix_power(step, at[i] - at[prev_i])  # constant velocity
        p, sc = matcher.match(key, cur, np.linalg.inv(key_t) @ pred)
        t = key_t @ p
        if sc < 0.5 and key is not prev:
            p2, sc2 = matcher.match(prev, cur, np.linalg.inv(prev_t) @ pred)
            if sc2 > sc:
                t, sc = prev_t @ p2, sc2
        if sc < 0.2:
            # Unmatchable (a white flash, an impact frame, a fade): follow the motion, keep the key.
            small.append(pred)
            continue
        small.append(t)
        if float(np.hypot(*(t - key_t)[:2, 2])) > 0.2 * max(cur[0].shape) or sc < 0.5:
            key, key_t = cur, t
        step = _root(np.linalg.inv(prev_t) @ t, at[i] - at[prev_i])
        prev, prev_t, prev_i = cur, t, i
    full = [np.asarray(np.linalg.inv(scale_matrix(s)) @ t @ scale_matrix(s)) for t in small]
    return from_origin(full, (h, w))


REFINE_SIDE = 960


def _correlation(
    grey: NDArray[np.uint8], plate: NDArray[np.float32], ok: NDArray[np.uint8], plate_ok: NDArray[np.uint8], t: Matrix
) -> float:
    """Normalised correlation of a frame's background with the plate seen through ``t``."""
    h, w = grey.shape
    flags = cv2.WARP_INVERSE_MAP
    view = cv2.warpAffine(plate, t[:2], (w, h), flags=cv2.INTER_LINEAR | flags)
    valid = (cv2.warpAffine(plate_ok, t[:2], (w, h), flags=cv2.INTER_NEAREST | flags) > 0) & (ok > 0)
    if np.count_nonzero(valid) < 100:
        return -1.0
    a = grey[valid].astype(np.float64)
    b = view[valid].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def refine_camera(
    frames: Sequence[Image],
    transforms: Sequence[Matrix],
    foreground: Sequence[Mask | None] | None = None,
    *,
    rounds: int = 2,
    max_frames: int = 24,
    long_side: int = REFINE_SIDE,
    workers: int | None = None,
    tick: Callable[[], None] | None = None,
) -> list[Matrix]:
    """Sub-pixel camera: each frame aligned to the shot's median plate by ECC on its background.

    Feature matching at ~480 px leaves 0.1-1 px of error, which blurs a stitched plate and costs
    several dB on textured backgrounds. Aligning every frame to the median plate (rather than to a
    neighbour) adds no drift along a pan; a second round aligns to the sharper plate of the first.
    Frames that ECC cannot align (flashes, impact frames) keep their estimate.

    Within a round the frames are aligned independently against the same plate, on ``workers``
    threads (default: one per core; ECC, 57 % of a shot's analysis, releases the GIL): the result
    is the same transforms, in the same order, as aligning them one after another. ``tick`` is called
    after each frame is aligned; what it raises stops the refinement (the pipeline's cancel).
    """
    n = len(frames)
    ts = [np.asarray(t, np.float64) for t in transforms]
    if n < 2:
        return ts
    shape = frames[0].shape
    s = model_scale(shape, long_side)
    masks = list(foreground) if foreground is not None else [None] * n
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    greys = [_grey(f, s) for f in frames]
    bg: list[NDArray[np.uint8]] = []
    for g, m in zip(greys, masks, strict=True):
        ok = np.full(g.shape, 255, np.uint8)
        if m is not None:
            fg = cv2.resize(np.asarray(m, np.uint8), (g.shape[1], g.shape[0]), interpolation=cv2.INTER_NEAREST)
            ok[cv2.dilate(fg, grow) > 0] = 0
        bg.append(np.asarray(cv2.erode(ok, np.ones((3, 3), np.uint8), borderValue=0), np.uint8))
    threads = max(1, min(workers or os.cpu_count() or 1, n))
    with ThreadPoolExecutor(threads, thread_name_prefix="refine-camera") as pool:
        for _ in range(rounds):
            plate, seen = build_plate(frames, ts, masks, s, max_frames)
            p_grey = cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY).astype(np.float32)
            p_ok = np.asarray(np.where(seen > 0, 255, 0), np.uint8)
            aligned = [pool.submit(_align, g, b, t, plate=p_grey, plate_ok=p_ok, s=s) for g, b, t in zip(greys, bg, ts, strict=True)]
            ts = results_in_order(aligned, tick)
    return ts


# From a feature-matched start ECC converges in a few iterations (1-3 on a clean pan); a run that
# needs dozens is sliding along a weak correlation ridge, not refining.
ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 1e-5)
# How far (pixels at the refinement scale, any corner of the frame) a refinement may move the
# estimate. Feature matching at ~480 px is off by 0.1-1 px there; on a 1080p generated shot ECC was
# seen "refining" frames by 50-140 px at full size to a correlation of 0.82-0.87 and moving them again
# by as much in the second round: a different, wrong alignment, not a sub-pixel correction.
MAX_REFINE_MOVE = 4.0


def _align(
    grey: NDArray[np.uint8], ok: NDArray[np.uint8], t: Matrix, *, plate: NDArray[np.float32],
    plate_ok: NDArray[np.uint8], s: float,
) -> Matrix:
    """One frame of a `refine_camera` round: ``t`` aligned to ``plate`` by ECC on the background
    ``ok``, or ``t`` itself where ECC fails or does not explain the frame better."""
    if np.count_nonzero(ok) < 0.05 * ok.size:
        return t
    warp = rescale_transform(t, s)[:2].astype(np.float32)
    start = warp.copy()  # OpenCV updates ``warp`` in place
    try:
        cc, found = cv2.findTransformECCWithMask(
            grey.astype(np.float32), plate, ok, plate_ok, warp, cv2.MOTION_AFFINE, ECC_CRITERIA, 3
        )
    except cv2.error:
        return t
    new = np.vstack([np.asarray(found, np.float64), [0.0, 0.0, 1.0]])
    if _corner_move(start, found, grey.shape) > MAX_REFINE_MOVE:
        return t
    # Kept only where it explains the frame better than the estimate did: with little
    # background showing, six free parameters can fit noise.
    before = _correlation(grey, plate, ok, plate_ok, rescale_transform(t, s))
    return rescale_transform(new, 1.0 / s) if cc > 0.8 and cc > before + 1e-4 else t


def _corner_move(a: NDArray[Any], b: NDArray[Any] | cv2.Mat, shape: tuple[int, ...]) -> float:
    """The largest distance, in pixels, between where two 2x3 affine maps put the frame's corners."""
    h, w = shape[:2]
    corners = np.array([[0, w, 0, w], [0, 0, h, h], [1, 1, 1, 1]], np.float64)
    moved = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) @ corners
    return float(np.hypot(moved[0], moved[1]).max())
