"""The segment stage's view of a shot's background: the plate, temporal support, and the
per-frame image helpers (plate difference, robust threshold, GrabCut, guided upsampling)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

from models.base import Image
from models.classical.filters import guided_filter
from models.classical.geometry import Matrix, rescale_transform, resize
from models.classical.plate import masked_median, plate_size, sample_indices, warp_to_frame

__all__ = ["BackgroundModel", "difference", "excess", "grabcut", "guided_upsample", "robust_threshold"]

K3 = np.ones((3, 3), np.uint8)


class BackgroundModel:
    """Sampled frames of the shot in plate coordinates, for temporal support and the plate.

    The support of a pixel is the share of the other sampled frames that see the same colour at
    the same background place. Background is seen alike whenever it is visible; a character moves
    on, so even where it covers a place for most of the shot, each of its colours gets little
    support there (a median would burn it in). The plate is the median over supported samples.
    """

    def __init__(self, frames: Sequence[Image], transforms: Sequence[Matrix], s: float, refs: int,
                 tol: float = 14.0) -> None:
        self.s, self.tol, self.shape = s, tol, frames[0].shape
        self._last = threading.local()  # `_frame_support`'s last answer, per thread
        self.size = plate_size(transforms, self.shape, s)
        self.idx = sample_indices(len(frames), refs)
        ph, pw = self.size
        rgb = np.zeros((len(self.idx), ph, pw, 3), np.uint8)
        self.lab = np.zeros_like(rgb)
        self.valid = np.zeros((len(self.idx), ph, pw), bool)
        for k, i in enumerate(self.idx):
            rgb[k], self.lab[k], self.valid[k] = self._to_plate(resize(frames[i], s), transforms[i])
        # Each sample's 3x3 colour range: agreement tolerates a pixel of camera error.
        self.lo: NDArray[np.uint8] = np.stack([cv2.erode(x, K3) for x in self.lab]).astype(np.uint8, copy=False)
        self.hi: NDArray[np.uint8] = np.stack([cv2.dilate(x, K3) for x in self.lab]).astype(np.uint8, copy=False)
        fg = np.zeros_like(self.valid)
        agree = np.zeros(self.valid.shape, np.float32)
        for k in range(len(self.idx)):
            sup, cov = self._support(self.lab[k], self.valid[k], k)
            agree[k] = sup * cov
            fg[k] = cv2.dilate(((sup < 0.3) & (cov >= 2)).astype(np.uint8), K3, iterations=2) > 0
        # The most other samples any sample agrees with at each place: the colour seen there most
        # often. Background a character covers for most of the shot is seen in few frames (little
        # support), but always alike: it is still the place's most agreed-on colour unless the
        # character there stood still.
        self.most_agree = agree.max(axis=0)
        fg_hist = np.zeros((PALETTE_BINS,) * 3, np.float64)
        bg_hist = np.zeros_like(fg_hist)
        for k in range(len(self.idx)):
            dominant = _dominant(agree[k], self.most_agree) & self.valid[k]
            # The shot's two palettes: what moved and is not the place's dominant colour (the
            # characters' colours, edges eroded off: outlines blend with the background) and the
            # places' dominant colours.
            moved = (agree[k] < 0.3 * np.maximum(self.most_agree, 1)) & self.valid[k] & ~dominant
            core = cv2.erode(moved.astype(np.uint8), K3) > 0
            fg_hist += _histogram(self.lab[k][core])
            bg_hist += _histogram(self.lab[k][dominant])
        self.fg_pixels = float(fg_hist.sum())
        self.fg_palette = _normalised(fg_hist)
        self.bg_palette = _normalised(bg_hist)
        share = [float(f[v].mean()) if v.any() else 0.0 for f, v in zip(fg, self.valid, strict=True)]
        # Nothing departs from the rest: a still picture whose character the plate cannot reveal.
        self.moving_share = float(np.median(share)) if share else 0.0
        self.static = len(frames) < 3 or self.moving_share < 0.003
        use = self.valid & ~fg
        use = np.where(use.any(axis=0), use, self.valid)
        self.plate = masked_median(rgb, use)

    def _to_plate(self, small: Image, t: Matrix) -> tuple[Image, Image, NDArray[np.bool_]]:
        m = rescale_transform(np.asarray(t), self.s)[:2]
        ph, pw = self.size
        rgb = np.asarray(cv2.warpAffine(small, m, (pw, ph), flags=cv2.INTER_LINEAR), np.uint8)
        lab = np.asarray(cv2.cvtColor(cv2.GaussianBlur(rgb, (3, 3), 0), cv2.COLOR_RGB2LAB), np.uint8)
        ok = cv2.warpAffine(np.full(small.shape[:2], 255, np.uint8), m, (pw, ph), flags=cv2.INTER_NEAREST)
        # Two pixels in from the border: the warp and the blur mix in the black outside.
        ok = cv2.erode(ok, K3, iterations=2, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        return rgb, lab, np.asarray(ok > 0)

    def _support(self, lab: Image, valid: NDArray[np.bool_], own: int | None) -> tuple[
            NDArray[np.float32], NDArray[np.int32]]:
        cover = self.valid & valid
        if own is not None:
            cover[own] = False
        agree = _box_within_u8(lab[None], self.lo, self.hi, self.tol) & cover
        n = cover.sum(axis=0).astype(np.int32)
        return (agree.sum(axis=0) / np.maximum(n, 1)).astype(np.float32), n

    def _frame_support(self, small: Image, t: Matrix, i: int) -> tuple[
            NDArray[np.float32], NDArray[np.int32], NDArray[np.bool_]]:
        """Frame ``i``'s support, cover count and valid area in plate coordinates. The segmenter asks
        `support` and then `dominant` of the same frame, which both need this (a fifth of a frame's
        evidence outside GrabCut): each thread keeps its last answer, for the same ``small`` array
        (by identity: callers do not change a frame they are still asking about), ``t`` and ``i``."""
        last = getattr(self._last, "value", None)
        if last is not None and last[0] is small and last[1] == i and np.array_equal(last[2], t):
            return last[3]  # type: ignore[no-any-return]
        _, lab, valid = self._to_plate(small, t)
        own = self.idx.index(i) if i in self.idx else None
        sup, n = self._support(lab, valid, own)
        self._last.value = (small, i, np.array(t, np.float64), (sup, n, valid))
        return sup, n, valid

    def background_colour(self, small: Image, ratio: float = 4.0) -> NDArray[np.bool_]:
        """Pixels whose colour the shot's background palette holds ``ratio`` times more often than
        its moving (character) palette; none when too little moved to know the characters' colours."""
        if self.fg_pixels < 200:
            return np.zeros(small.shape[:2], bool)
        lab = cv2.cvtColor(cv2.GaussianBlur(small, (3, 3), 0), cv2.COLOR_RGB2LAB)
        q = (lab // (256 // PALETTE_BINS)).astype(np.intp)
        idx = (q[..., 0], q[..., 1], q[..., 2])
        return np.asarray(self.bg_palette[idx] > ratio * self.fg_palette[idx])

    def dominant(self, small: Image, t: Matrix, i: int) -> NDArray[np.bool_]:
        """Pixels of frame ``i`` (frame coordinates, model scale) that show their place's most
        agreed-on colour over the shot (see `_dominant`)."""
        sup, n, valid = self._frame_support(small, t, i)
        agree = sup * n
        dom = (_dominant(agree, np.maximum(self.most_agree, agree)) & valid).astype(np.uint8)
        return np.asarray(warp_to_frame(dom, t, self.shape, self.s, cv2.INTER_NEAREST) > 0)

    def moving(self, small: Image, t: Matrix, i: int) -> NDArray[np.bool_]:
        """Pixels few other frames agree with, grown a little (likely foreground)."""
        sup, known = self.support(small, t, i)
        m = ((sup < 0.4) & known).astype(np.uint8)
        return np.asarray(cv2.dilate(cv2.morphologyEx(m, cv2.MORPH_OPEN, K3), K3, iterations=3) > 0)

    def support(self, small: Image, t: Matrix, i: int) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Support of frame ``i``'s pixels (frame coordinates at model scale) and where it is known."""
        sup, n, _ = self._frame_support(small, t, i)
        sup_f = warp_to_frame(sup, t, self.shape, self.s)
        known = warp_to_frame((n >= 2).astype(np.uint8), t, self.shape, self.s, cv2.INTER_NEAREST) > 0
        return np.asarray(sup_f, np.float32), np.asarray(known)


PALETTE_BINS = 32  # per Lab channel: 8 units


def _dominant(agree: NDArray[np.float32], most: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Agreeing with at least two other samples and with nearly as many as the place's best colour."""
    return np.asarray((agree >= 2) & (agree >= 0.7 * most))


def _histogram(lab: NDArray[np.uint8]) -> NDArray[np.float64]:
    q = (lab // (256 // PALETTE_BINS)).astype(np.intp)
    flat = np.ravel_multi_index((q[:, 0], q[:, 1], q[:, 2]), (PALETTE_BINS,) * 3)
    return np.bincount(flat, minlength=PALETTE_BINS**3).reshape((PALETTE_BINS,) * 3).astype(np.float64)


def _normalised(hist: NDArray[np.float64]) -> NDArray[np.float32]:
    """A histogram as a density, spread over neighbouring bins (a colour on a bin edge, compression
    noise) with a floor so an unseen colour is unlikely, not impossible."""
    h = uniform_filter(hist, size=3, mode="constant")
    return np.asarray((h + 1e-3) / (h.sum() + 1e-3 * h.size), np.float32)


# -- image helpers -------------------------------------------------------------------------------


def difference(image: Image, ref: Image) -> NDArray[np.float32]:
    """Per-pixel Lab distance (OpenCV 8-bit Lab units) from ``image`` to the colour range of
    ``ref``'s 3x3 neighbourhood: a camera estimate off by a pixel does not light up every edge."""
    a = cv2.cvtColor(cv2.GaussianBlur(image, (3, 3), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(cv2.GaussianBlur(ref, (3, 3), 0), cv2.COLOR_RGB2LAB)
    return excess(a, cv2.erode(b, K3), cv2.dilate(b, K3))


def excess(x: NDArray[Any], lo: NDArray[Any], hi: NDArray[Any]) -> NDArray[np.float32]:
    """Euclidean distance from ``x`` to the per-channel box ``[lo, hi]`` (last axis: channels)."""
    xf = x.astype(np.float32)
    over = np.maximum(lo.astype(np.float32) - xf, 0) + np.maximum(xf - hi.astype(np.float32), 0)
    return np.asarray(np.sqrt((over**2).sum(axis=-1)), np.float32)


def _box_excess_u8(x: NDArray[np.uint8], lo: NDArray[np.uint8], hi: NDArray[np.uint8]) -> NDArray[np.float32]:
    """`excess` for uint8 arrays with ``lo <= hi`` (an erosion and a dilation of one image), in
    integers: ``max(lo - x, 0) + max(x - hi, 0)`` is ``max(lo, x) - min(hi, x)`` without wrapping,
    and every square and sum of squares is an integer a float32 holds exactly, so the result is
    bit for bit `excess`'s, at a fifth of its CPU (it is the shot analysis's support test, run
    for every sampled frame against every other)."""
    over = np.maximum(lo, x)
    over -= np.minimum(hi, x)
    squares = np.multiply(over, over, dtype=np.uint16)
    total = squares[..., 0].astype(np.float32)
    for c in range(1, squares.shape[-1]):
        total += squares[..., c]
    return np.asarray(np.sqrt(total, out=total), np.float32)


@functools.lru_cache(maxsize=8)
def _squares_under(tol: float) -> int:
    """How many whole numbers ``t`` (from 0 on) have ``np.sqrt(float32(t)) < tol``: a prefix, the
    rounded square root being monotonic, and exactly the sums of squares that `_box_excess_u8` puts
    under ``tol`` (its totals are whole numbers up to 3 * 255^2, exact in float32)."""
    levels = np.sqrt(np.arange(3 * 255 * 255 + 1, dtype=np.float32))
    return int(np.count_nonzero(levels < tol))


def _box_within_u8(x: NDArray[np.uint8], lo: NDArray[np.uint8], hi: NDArray[np.uint8], tol: float) -> NDArray[np.bool_]:
    """``_box_excess_u8(x, lo, hi) < tol``, bit for bit, without square roots or floats: the sum of
    squares compared with `_squares_under`'s cut. With a cut under 256 (``tol`` up to 15.9) each
    square is looked up clamped to the cut (one channel that reaches it decides alone), so the
    sum stays in 16 bits: about two thirds of `_box_excess_u8`'s CPU (the shot analysis's and the
    segmenter's support test, every sampled frame against every other)."""
    cut = _squares_under(tol)
    over = np.maximum(lo, x)
    over -= np.minimum(hi, x)
    if cut < 256:
        table = np.minimum(np.arange(256) ** 2, cut).astype(np.uint8)
        flat = np.ascontiguousarray(over).reshape(-1, over.shape[-2] * over.shape[-1])
        squares = np.asarray(cv2.LUT(flat, table), np.uint8).reshape(over.shape)
        total = squares[..., 0].astype(np.uint16)
    else:
        squares = np.multiply(over, over, dtype=np.uint16)
        total = squares[..., 0].astype(np.uint32)
    for c in range(1, int(over.shape[-1])):
        total += squares[..., c]
    return np.asarray(total < cut)


def robust_threshold(values: NDArray[np.float32], k: float = 6.0, floor: float = 18.0) -> float:
    """``median + k * 1.4826 * MAD``, never below ``floor``: noise-adaptive foreground cut."""
    if values.size == 0:
        return floor
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    return max(floor, med + k * 1.4826 * mad)


GRABCUT_SEED = 12345


def grabcut(image: Image, evidence: NDArray[np.uint8], iterations: int = 2) -> NDArray[np.uint8]:
    """GrabCut from a GC_* evidence map, run only around the foreground evidence; 0/1 mask."""
    fgish = (evidence == cv2.GC_FGD) | (evidence == cv2.GC_PR_FGD)
    out = np.zeros(evidence.shape, np.uint8)
    if fgish.sum() < 16:
        return out
    ys, xs = np.nonzero(fgish)
    h, w = evidence.shape
    my = max(8, int(0.25 * (ys.max() - ys.min())))
    mx = max(8, int(0.25 * (xs.max() - xs.min())))
    y0, y1 = max(0, ys.min() - my), min(h, ys.max() + my + 1)
    x0, x1 = max(0, xs.min() - mx), min(w, xs.max() + mx + 1)
    mask = evidence[y0:y1, x0:x1].copy()
    bgish = (mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)
    if bgish.sum() < 16 or iterations <= 0:
        out[fgish] = 1
        return out
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    # GrabCut's colour models start from k-means on OpenCV's per-thread RNG: seed it, so a frame's
    # result does not depend on what ran before it on that thread (or on which thread it runs).
    cv2.setRNGSeed(GRABCUT_SEED)
    try:
        cv2.grabCut(np.ascontiguousarray(image[y0:y1, x0:x1]), mask, (0, 0, 1, 1), bgd, fgd,
                    iterations, cv2.GC_INIT_WITH_MASK)  # the rect is ignored with INIT_WITH_MASK
    except cv2.error:  # degenerate colour models (e.g. a flat crop): keep the evidence
        out[fgish] = 1
        return out
    out[y0:y1, x0:x1] = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    return out


def guided_upsample(p_small: NDArray[np.float32], frame: Image, s: float, eps: float = 1e-3) -> NDArray[np.float32]:
    """Upsample a soft mask to the frame with a grey guided filter (He et al.) so edges snap to it."""
    h, w = frame.shape[:2]
    if s == 1.0:
        return p_small.astype(np.float32)
    p = cv2.resize(p_small, (w, h), interpolation=cv2.INTER_LINEAR)
    guide = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    r = max(2, round(1.5 / s))
    return np.asarray(np.clip(guided_filter(guide, p, r, eps), 0.0, 1.0), np.float32)
