"""Per-object tracking state of one propagation pass (see `models.classical.propagation`): amodal
masks that move along their own flow or coast on their velocity, a colour-decided depth order,
re-detection of objects coming out from behind others, and label snapping to colour edges."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels, SoftMap
from models.classical.flow import F32
from models.classical.labelmaps import pixel_counts

_BINS = 16  # histogram bins per colour channel (16^3 = 4096 colours)
COLOUR_BINS = _BINS**3  # the bins of `colour_index`


def colour_index(image: Image) -> NDArray[np.uint16]:
    """Quantised colour of every pixel as a histogram bin index."""
    q = (image >> 4).astype(np.uint16)  # 12 bits: uint16 holds the index at a quarter of intp's memory
    return (q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2]


def more_frequent_on(image: Image, on: NDArray[np.bool_], than: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per pixel, whether its colour (`colour_index`) is a larger share of the pixels in ``on`` than
    of those in ``than`` (each region's histogram over its own pixel count): a character's colours
    against the background's round it."""
    code = colour_index(np.asarray(image, np.uint8))
    share_on = np.bincount(code[on], minlength=_BINS**3) / max(1, int(on.sum()))
    share_than = np.bincount(code[than], minlength=_BINS**3) / max(1, int(than.sum()))
    return np.asarray(share_on[code] > share_than[code])


def colour_posterior(image: Image, labels: Labels, ids: NDArray[np.uint8]) -> F32:
    """Per-label colour posterior table ``(len(ids), 4096)`` from one labelled frame."""
    idx = colour_index(image)
    raw = np.stack([np.bincount(idx[labels == k], minlength=_BINS**3) for k in ids]).astype(np.float32)
    # A little smoothing across neighbouring bins, never across labels (rows).
    counts: F32 = cv2.GaussianBlur(raw, (3, 1), 0.5, borderType=cv2.BORDER_REPLICATE)
    like = (counts + 0.1) / (counts.sum(axis=1, keepdims=True) + 0.1 * _BINS**3)
    return (like / like.sum(axis=0, keepdims=True)).astype(np.float32)


def label_ids(labels: Labels) -> list[int]:
    """The non-zero labels present, in increasing order (`np.unique` of a uint8 map, by counting)."""
    return [int(k) for k in np.flatnonzero(pixel_counts(labels)) if k != 0]


class Tracks:
    """Per-object state of one pass: amodal masks, velocities, depth order, colour models, labels."""

    def __init__(self, shape: tuple[int, int], snap: float, band: float) -> None:
        self.shape = shape
        self.snap = snap
        self.labels: Labels = np.zeros(shape, np.uint8)
        self.conf: F32 = np.zeros(shape, np.float32)
        self.margin: F32 = np.ones(shape, np.float32)
        self.amodal: dict[int, NDArray[np.bool_]] = {}
        self.vel: dict[int, F32] = {}
        self.order: list[int] = []  # back to front
        self.post: F32 | None = None
        self.post_ids: NDArray[np.uint8] = np.zeros(1, np.uint8)  # the label of each row of ``post``
        self.area: dict[int, float] = {}  # each object's recent whole size, to tell hidden from shrunk
        self.sigma = max(1.0, band * max(shape) / 854)

    def merge_seed(self, image: Image, seed: Labels, held: list[int] | None = None) -> None:
        """Trust ``seed`` for the objects it holds (``held``: its `label_ids` when the caller has
        them); keep the others where it labels nothing."""
        held = label_ids(seed) if held is None else held
        full = set(held) >= set(self.order)
        keep = (seed == 0) & ~np.isin(self.labels, held) & (not full)
        self.labels = np.where(keep, self.labels, seed).astype(np.uint8)
        self.conf = np.where(keep, self.conf, 1.0).astype(np.float32)
        self.margin = np.ones(self.shape, np.float32)
        for k in held:
            self.amodal[k] = seed == k
            self.area[k] = float(np.count_nonzero(self.amodal[k]))
            self.vel.setdefault(k, np.zeros(2, np.float32))
        for k in [k for k in self.order if k not in held and (full or not self.amodal[k].any())]:
            del self.amodal[k], self.vel[k], self.area[k]
        # Seeded objects are seen whole: put them in front, larger ones behind smaller ones.
        self.order = [k for k in self.order if k in self.amodal and k not in held]
        self.order += sorted(held, key=lambda k: -int(np.count_nonzero(seed == k)))
        self.post_ids = self.ids
        self.post = colour_posterior(image, self.labels, self.post_ids) if self.snap > 0 else None

    @property
    def ids(self) -> NDArray[np.uint8]:
        return np.array([0, *self.order], np.uint8)

    def _composite(self, masks: dict[int, NDArray[np.bool_]]) -> Labels:
        out = np.zeros(self.shape, np.uint8)
        for k in self.order:
            out[masks[k]] = k
        return out

    def coast(self, gap: int) -> Labels:
        """Labels predicted ``gap`` frames ahead from the velocities alone (state unchanged)."""
        moved = {k: _shift(self.amodal[k], self.vel[k] * gap) for k in self.order}
        return self._composite(moved)

    def step(self, image: Image, flow: F32, scale: float, consist: F32, gap: int) -> None:
        """Move every object from the anchor frame onto ``image`` (``gap`` frames on) and relabel."""
        fh, fw = flow.shape[:2]
        radius = max(1, round(0.025 * max(fh, fw)))
        moved: dict[int, NDArray[np.bool_]] = {}
        shown: dict[int, float] = {}
        for k in self.order:
            visible = self.labels == k
            shown[k] = np.count_nonzero(visible) / max(self.area[k], 1.0)
            moved[k], self.vel[k] = _move(self.amodal[k], visible, shown[k], flow, scale, self.vel[k], gap, radius)
        self._reorder(image, moved)
        labels = self._composite(moved)
        self.margin = np.ones(self.shape, np.float32)
        if self.post is not None and self.order:
            labels, self.margin = self._snap(image, labels, consist)
            for n, k in enumerate(self.order):
                if shown[k] < 0.9:
                    # A hidden object comes out somewhere around whatever hides it.
                    # (Only then: an object that shrinks or leaves the picture is not searched for.)
                    hiders = [j for j in self.order[n + 1:] if np.count_nonzero(moved[k] & moved[j])]
                    if hiders:
                        near = moved[k] | np.logical_or.reduce([moved[j] for j in hiders])
                        self._redetect(image, labels, k, near, gap)
        self.labels = labels
        for k in self.order:
            self.amodal[k] = (labels == k) | (moved[k] & (labels != 0))
            if shown[k] > 0.8:  # a hidden object keeps the size it had when seen whole
                self.area[k] = 0.8 * self.area[k] + 0.2 * float(np.count_nonzero(self.amodal[k]))

    def visible_conf(self) -> SoftMap:
        return (self.conf * (0.5 + 0.5 * self.margin)).astype(np.float32)

    def _reorder(self, image: Image, moved: dict[int, NDArray[np.bool_]]) -> None:
        """Let colour decide who is in front where two objects overlap (with hysteresis)."""
        if self.post is None or len(self.order) < 2:
            return
        row = {int(k): i for i, k in enumerate(self.post_ids)}
        for a in list(self.order):
            for b in list(self.order):
                if a >= b:
                    continue
                both = moved[a] & moved[b]
                if np.count_nonzero(both) < 16:
                    continue
                idx = colour_index(image[both])
                la = float(np.mean(np.log(self.post[row[a], idx])))
                lb = float(np.mean(np.log(self.post[row[b], idx])))
                front, back = (a, b) if la > lb else (b, a)
                if abs(la - lb) > 0.3 and self.order.index(front) < self.order.index(back):
                    self.order.remove(front)
                    self.order.insert(self.order.index(back) + 1, front)

    def _redetect(self, image: Image, labels: Labels, k: int, near: NDArray[np.bool_], gap: int) -> None:
        """Give back to a partly hidden object the background pixels near it that only it explains.

        An object coming out from behind another (or from a flow failure) shows up as unexplained
        pixels next to where it was predicted; its colour model claims them when it is decisive.
        """
        assert self.post is not None
        h, w = self.shape
        r = int(max(4.0, 2.0 * float(np.hypot(*self.vel[k])) * gap + 0.02 * max(h, w)))
        near = near | (labels == k)
        ys, xs = np.nonzero(near)
        if len(ys) == 0:
            return
        y0, y1, x0, x1 = max(0, ys.min() - r), min(h, ys.max() + r + 1), max(0, xs.min() - r), min(w, xs.max() + r + 1)
        window = cv2.dilate(near[y0:y1, x0:x1].astype(np.uint8),
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        crop = labels[y0:y1, x0:x1]
        row = int(np.flatnonzero(self.post_ids == k)[0])
        p = self.post[row, colour_index(image[y0:y1, x0:x1])]
        claim = ((window > 0) & (crop == 0) & (p > 0.85)).astype(np.uint8)
        claim = cv2.morphologyEx(claim, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        crop[claim > 0] = k

    def _snap(self, image: Image, warped: Labels, consist: F32) -> tuple[Labels, F32]:
        """Move label boundaries onto colour edges within a few pixels of where the flow put them."""
        assert self.post is not None
        ids = self.post_ids
        h = warped.shape[0]
        margin = np.ones(warped.shape, np.float32)
        rows = np.flatnonzero(warped.any(axis=1))
        if not rows.size:
            return warped, margin  # no object: no boundary, no band
        # The band lies within the blur's reach of an object, so only those rows are worked on. Row
        # windows only (never column windows): OpenCV blurs a row's SIMD lanes and tail differently, so
        # a narrower image would round some pixels differently; a row window gives the same bits.
        reach = _blur_reach(self.sigma)
        y0, y1 = max(0, int(rows[0]) - reach), min(h, int(rows[-1]) + reach + 1)
        # Each blur written straight into its row: stacking full-frame maps afterwards copies them all.
        onehot = np.zeros((len(ids), y1 - y0, warped.shape[1]), np.float32)
        for row, k in enumerate(ids):
            mask = warped == k
            ks = rows if k == 0 else np.flatnonzero(mask.any(axis=1))
            if not ks.size:
                continue
            b0, b1 = max(y0, int(ks[0]) - reach), min(y1, int(ks[-1]) + reach + 1)  # rows the blur reaches
            if k == 0:
                b0, b1 = y0, y1  # the background is everywhere
            s0, s1 = max(0, b0 - reach), min(h, b1 + reach)  # what those rows' blur reads
            blurred = cv2.GaussianBlur(mask[s0:s1].astype(np.float32), (0, 0), self.sigma)
            onehot[row, b0 - y0:b1 - y0] = blurred[b0 - s0:b1 - s0]
        band = onehot.max(axis=0) < 0.999
        if not band.any():
            return warped, margin
        idx = colour_index(image[y0:y1][band])
        # Where the flow is unreliable (occlusions), let colour speak louder.
        power = self.snap * (1.5 - 0.5 * consist[y0:y1][band])
        score = onehot[:, band] * self.post[:, idx] ** power
        score /= score.sum(axis=0, keepdims=True) + 1e-12
        out = warped.copy()
        best, gap = best_and_gap(score)
        out[y0:y1][band] = ids[best]
        margin[y0:y1][band] = gap
        return out, margin


def best_and_gap(score: F32) -> tuple[NDArray[np.intp], F32]:
    """Per column of ``score`` (rows: labels, at least two; no NaN): the row of its largest value
    (the first of equals, as `np.argmax` gives it) and that value minus the second largest (what
    ``np.partition(score, -2, axis=0)``'s last two rows subtract to). A running maximum and runner-up
    over the few rows, instead of a search and a selection per column: the same values, since
    nothing is computed but the one subtraction."""
    first = np.maximum(score[0], score[1])
    second = np.minimum(score[0], score[1])
    best = (score[1] > score[0]).astype(np.intp)
    for n, row in enumerate(score[2:], start=2):
        best[row > first] = n
        np.maximum(second, np.minimum(first, row), out=second)
        np.maximum(first, row, out=first)
    return best, first - second


def _blur_reach(sigma: float) -> int:
    """Rows beyond which a float Gaussian blur of ``sigma`` reads nothing (OpenCV's kernel for float
    images is ``2 * round(4 * sigma) + 1`` wide; two rows spare)."""
    return int(np.ceil(4 * sigma)) + 2


def _shift(mask: NDArray[np.bool_], d: F32) -> NDArray[np.bool_]:
    """``mask`` translated by ``d`` (x, y) pixels."""
    m = np.array([[1, 0, d[0]], [0, 1, d[1]]], np.float32)
    h, w = mask.shape
    out: NDArray[Any] = cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    return out > 0


def _move(amodal: NDArray[np.bool_], visible: NDArray[np.bool_], shown: float, flow: F32, scale: float, vel: F32,
          gap: int, radius: int) -> tuple[NDArray[np.bool_], F32]:
    """Forward-splat one object's amodal mask along its own motion; returns the mask and velocity.

    The motion is the flow of the object's visible interior, extrapolated over the whole object
    (dense flow is smoothed across motion boundaries, so vectors near an edge mix object and
    background motion). The less of the object is ``shown`` (visible share of its recent size), the
    more it coasts on ``vel``.
    """
    h, w = amodal.shape
    ys, xs = np.nonzero(amodal)
    if len(ys) == 0:
        return amodal, vel
    fh, fw = flow.shape[:2]
    small = cv2.resize(visible.astype(np.float32), (fw, fh), interpolation=cv2.INTER_AREA) > 0.25
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    inner = cv2.erode(small.astype(np.uint8), k).astype(np.float32)
    if inner.sum() < 4:
        inner = small.astype(np.float32)
    trust = float(np.clip((shown - 0.2) / 0.4, 0, 1)) if inner.sum() >= 4 else 0.0
    sy, sx = (ys * (fh / h)).astype(np.intp), (xs * (fw / w)).astype(np.intp)
    d = np.broadcast_to(vel * gap, (len(ys), 2)).astype(np.float32)
    if trust > 0:
        wsum = cv2.GaussianBlur(inner, (0, 0), 2 * radius)
        field = cv2.GaussianBlur(flow * inner[..., None], (0, 0), 2 * radius) / np.maximum(wsum, 1e-6)[..., None]
        mean = (flow * inner[..., None]).sum(axis=(0, 1)) / float(inner.sum())
        field = np.where((wsum > 1e-3)[..., None], field, mean)
        d = trust * field[sy, sx] / scale + (1 - trust) * d
        # The velocity learns only from a mostly visible object: a sliver's flow is the occluder's.
        vt = float(np.clip((shown - 0.5) / 0.3, 0, 1))
        vel = (vt * mean / (scale * gap) + (1 - vt) * vel).astype(np.float32)
    tx = np.rint(xs + d[:, 0]).astype(np.intp)
    ty = np.rint(ys + d[:, 1]).astype(np.intp)
    ok = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    return _splat(tx[ok], ty[ok], (h, w)), vel


def _splat(tx: NDArray[np.intp], ty: NDArray[np.intp], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """The mask of the pixels ``(tx, ty)`` (inside ``shape``) closed by 3x3: splatting leaves pinholes
    where the object stretches. The closing runs in the splat's box grown by 2 (what a 3x3 closing can
    reach and read): the same pixels as over the whole frame, at the object's cost."""
    h, w = shape
    out = np.zeros(shape, bool)
    if not len(tx):
        return out
    y0, y1, x0, x1 = max(0, ty.min() - 2), min(h, ty.max() + 3), max(0, tx.min() - 2), min(w, tx.max() + 3)
    hit: NDArray[Any] = np.zeros((y1 - y0, x1 - x0), np.uint8)
    hit[ty - y0, tx - x0] = 1
    close = np.ones((3, 3), np.uint8)
    out[y0:y1, x0:x1] = cv2.erode(cv2.dilate(hit, close), close) > 0
    return out
