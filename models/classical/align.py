"""Camera motion within a shot, and a background plate built from it.

Anime backgrounds are mostly static paintings that the camera pans across or zooms into, so one
similarity transform per frame explains the background well. Transforms here are ``3x3`` float64
matrices in full-resolution pixel coordinates that map a frame's pixels into *plate* coordinates: a
canvas that holds every frame of the shot, shifted so that all frames land at non-negative
coordinates.

Estimation runs on grey frames scaled to a long side of ~480 px. Each frame is matched against a
keyframe (not only the previous frame) so slow pans do not accumulate sub-pixel drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask

MODEL_SIDE = 480
Matrix = NDArray[np.float64]
AnyArray = NDArray[Any]  # images, masks and counts alike (cv2 stubs are loose about dtypes)


def model_scale(shape: tuple[int, ...], long_side: int = MODEL_SIDE) -> float:
    """The factor that brings a frame of ``shape`` down to ``long_side`` (never up)."""
    return min(1.0, long_side / float(max(shape[0], shape[1])))


def scale_matrix(s: float) -> Matrix:
    """Pixel-centre-correct map from full-resolution to ``s``-scaled coordinates (as cv2.resize)."""
    c = 0.5 * s - 0.5
    return np.array([[s, 0.0, c], [0.0, s, c], [0.0, 0.0, 1.0]])


def rescale_transform(t: Matrix, s: float) -> Matrix:
    """Express a full-resolution transform ``t`` in ``s``-scaled coordinates."""
    m = scale_matrix(s)
    return np.asarray(m @ t @ np.linalg.inv(m))


def resize(image: AnyArray, s: float, interp: int = cv2.INTER_AREA) -> AnyArray:
    """Resize by factor ``s`` (identity when ``s == 1``)."""
    if s == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(cv2.resize(image, size, interpolation=interp))


def _grey(frame: Image, s: float) -> NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(resize(frame, s), cv2.COLOR_RGB2GRAY), dtype=np.uint8)


class _Matcher:
    """ORB features with RANSAC similarity, phase correlation as the fallback."""

    def __init__(self) -> None:
        self.orb = cv2.ORB.create(nfeatures=1500, edgeThreshold=15, patchSize=15, fastThreshold=7)
        self.bf = cv2.BFMatcher(cv2.NORM_HAMMING)

    def features(self, grey: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None]:
        kps, desc = self.orb.detectAndCompute(grey, None)
        pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
        return pts, (None if desc is None else np.asarray(desc, np.uint8))

    def match(
        self,
        ref: tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.uint8] | None],
        cur: tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.uint8] | None],
    ) -> tuple[Matrix | None, int]:
        """Transform mapping ``cur`` coordinates to ``ref`` coordinates, and its inlier count."""
        g_ref, p_ref, d_ref = ref
        g_cur, p_cur, d_cur = cur
        if np.array_equal(g_ref, g_cur):
            return np.eye(3), 10**6
        if d_ref is not None and d_cur is not None and len(p_ref) >= 8 and len(p_cur) >= 8:
            pairs = self.bf.knnMatch(d_cur, d_ref, k=2)
            good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
            if len(good) >= 8:
                src = p_cur[[m.queryIdx for m in good]]
                dst = p_ref[[m.trainIdx for m in good]]
                a, inl = cv2.estimateAffinePartial2D(
                    src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.5, maxIters=3000,
                    confidence=0.995, refineIters=20,
                )
                n_in = int(inl.sum()) if inl is not None else 0
                if a is not None and n_in >= 10:
                    scale = float(np.hypot(a[0, 0], a[1, 0]))
                    if 0.75 < scale < 1.33:
                        return np.vstack([a, [0.0, 0.0, 1.0]]), n_in
        # Flat paintings (sky, walls) have few corners; phase correlation still sees a pan.
        win = cv2.createHanningWindow(g_ref.shape[::-1], cv2.CV_32F)
        (dx, dy), resp = cv2.phaseCorrelate(g_cur.astype(np.float32), g_ref.astype(np.float32), win)
        if resp > 0.08:
            return np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy], [0.0, 0.0, 1.0]]), 0
        return None, 0


def estimate_camera(frames: Sequence[Image], long_side: int = MODEL_SIDE) -> list[Matrix]:
    """Estimate one frame-to-plate transform per frame of a shot.

    Parameters
    ----------
    frames
        The shot (may be lazy; each frame is read once).
    long_side
        Modelling resolution.

    Returns
    -------
    list of ``3x3`` float64 matrices in full-resolution coordinates, shifted so that every frame
    maps to non-negative plate coordinates. A 1-frame shot gets the identity.
    """
    n = len(frames)
    if n == 0:
        return []
    first = frames[0]
    h, w = first.shape[:2]
    s = model_scale(first.shape, long_side)
    matcher = _Matcher()
    g0 = _grey(first, s)
    key = (g0, *matcher.features(g0))
    key_t = np.eye(3)
    prev = key
    prev_t = key_t
    key_inliers = 0
    small: list[Matrix] = [np.eye(3)]
    for i in range(1, n):
        g = _grey(frames[i], s)
        cur = (g, *matcher.features(g))
        p, n_in = matcher.match(key, cur)
        if p is not None:
            t = key_t @ p
        else:
            # Lost the keyframe: chain from the previous frame, or hold still as the last resort.
            p, n_in = matcher.match(prev, cur)
            t = prev_t @ p if p is not None else prev_t.copy()
        small.append(t)
        shift = float(np.hypot(*(t - key_t)[:2, 2]))
        if key_inliers == 0 and p is not None:
            key_inliers = n_in
        # A new keyframe once the view has moved far or the match has weakened.
        if shift > 0.2 * max(g.shape) or n_in < 0.4 * max(key_inliers, 1) or p is None:
            key, key_t, key_inliers = cur, t, n_in
        prev, prev_t = cur, t
    full = [np.asarray(np.linalg.inv(scale_matrix(s)) @ t @ scale_matrix(s)) for t in small]
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
    pts = np.concatenate([(t @ corners)[:2] for t in full], axis=1)
    off = np.floor(pts.min(axis=1) + 1e-6)  # tolerate -1e-12 from the matrix products
    shift_m = np.array([[1.0, 0.0, -off[0]], [0.0, 1.0, -off[1]], [0.0, 0.0, 1.0]])
    return [shift_m @ t for t in full]


def plate_size(transforms: Sequence[Matrix], frame_shape: tuple[int, ...], s: float = 1.0) -> tuple[int, int]:
    """Canvas ``(height, width)`` at scale ``s`` that holds every frame; capped at 4x the frame."""
    h, w = frame_shape[:2]
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
    pts = np.concatenate([(t @ corners)[:2] for t in transforms], axis=1)
    pw = min(int(np.ceil(pts[0].max())) + 1, 4 * w)
    ph = min(int(np.ceil(pts[1].max())) + 1, 4 * h)
    return max(1, round(ph * s)), max(1, round(pw * s))


def masked_median(stack: NDArray[np.uint8], valid: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """Per-pixel median over axis 0 of ``stack`` (N, H, W, C) using only ``valid`` (N, H, W) entries.

    Invalid entries are replaced alternately by 0 and 255; balanced padding leaves the middle
    element among the valid values, so one uint8 partition gives the answer without floats.
    """
    n = stack.shape[0]
    inv = ~valid
    rank = np.cumsum(inv, axis=0, dtype=np.int16)
    pad = np.where(rank % 2 == 1, 0, 255).astype(np.uint8)
    filled = np.where(inv[..., None], pad[..., None], stack)
    return np.asarray(np.partition(filled, n // 2, axis=0)[n // 2], dtype=np.uint8)


def sample_indices(n: int, max_frames: int) -> list[int]:
    """At most ``max_frames`` indices spread evenly over ``range(n)``."""
    if n <= max_frames:
        return list(range(n))
    return sorted({round(float(x)) for x in np.linspace(0, n - 1, max_frames)})


def build_plate(
    frames: Sequence[Image],
    transforms: Sequence[Matrix],
    masks: Sequence[Mask | None] | None = None,
    scale: float | None = None,
    max_frames: int = 40,
) -> tuple[Image, NDArray[np.uint16]]:
    """Median background plate of a shot in plate coordinates.

    Parameters
    ----------
    frames, transforms
        The shot and its `estimate_camera` transforms.
    masks
        Optional known foreground per frame (excluded from the median, dilated a little).
    scale
        Resolution of the plate relative to the frames; default brings it to ``MODEL_SIDE``.
    max_frames
        At most this many frames, spread over the shot, enter the median (memory bound).

    Returns
    -------
    plate
        ``uint8`` RGB canvas at ``scale``.
    coverage
        ``uint16`` count of sampled frames that saw each plate pixel as background.
    """
    shape = frames[0].shape
    s = model_scale(shape) if scale is None else scale
    ph, pw = plate_size(transforms, shape, s)
    idx = sample_indices(len(frames), max_frames)
    stack = np.zeros((len(idx), ph, pw, 3), np.uint8)
    valid = np.zeros((len(idx), ph, pw), bool)
    grow = np.ones((3, 3), np.uint8)
    for k, i in enumerate(idx):
        img = resize(frames[i], s)
        m = rescale_transform(np.asarray(transforms[i]), s)[:2]
        ok: AnyArray = np.full(img.shape[:2], 255, np.uint8)
        if masks is not None and masks[i] is not None:
            fg = resize(np.asarray(masks[i], np.uint8) * 255, s, cv2.INTER_NEAREST)
            ok[cv2.dilate(fg, grow, iterations=2) > 0] = 0
        # Erode the frame border: bilinear warping blends it with the black outside.
        ok = cv2.erode(ok, grow, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        stack[k] = cv2.warpAffine(img, m, (pw, ph), flags=cv2.INTER_LINEAR)
        valid[k] = cv2.warpAffine(ok, m, (pw, ph), flags=cv2.INTER_NEAREST) > 0
    return masked_median(stack, valid), valid.sum(axis=0).astype(np.uint16)


def warp_to_frame(
    plate: AnyArray, transform: Matrix, frame_shape: tuple[int, ...], s: float,
    interp: int = cv2.INTER_LINEAR,
) -> AnyArray:
    """Sample a plate at scale ``s`` back into a frame's pixels (also at scale ``s``)."""
    h, w = round(frame_shape[0] * s), round(frame_shape[1] * s)
    m = np.linalg.inv(rescale_transform(np.asarray(transform), s))[:2]
    return np.asarray(cv2.warpAffine(plate, m, (max(1, w), max(1, h)), flags=interp))
