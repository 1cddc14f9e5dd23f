"""Stage 3, weight-free: propagate label maps through a shot with dense optical flow.

Each seed frame's labels are carried frame by frame forward (up to the next seed or the shot end)
and backward (down to the previous seed or the shot start) by backward-mapping with DIS optical
flow computed at a reduced resolution. After every step the warped labels snap to colour edges in a
narrow band around object boundaries, using per-label colour histograms learnt on the source seed
(so drift cannot corrupt the model). Confidence combines forward-backward flow consistency, the
distance from the seed and the label margin; where two seeds bracket a frame the two propagations
are blended per pixel by confidence, so the nearer (and more consistent) seed wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels, Propagation, Role, SoftMap

Direction = Literal["forward", "backward", "both"]
F32 = NDArray[Any]  # cv2 stubs type results loosely; keep internal arrays loose too
_BINS = 16  # histogram bins per colour channel (16^3 = 4096 colours)


def colour_index(image: Image) -> NDArray[np.intp]:
    """Quantised colour of every pixel as a histogram bin index."""
    q = (image >> 4).astype(np.intp)
    return (q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2]


def colour_posterior(image: Image, labels: Labels, ids: NDArray[np.uint8]) -> F32:
    """Per-label colour posterior table ``(len(ids), 4096)`` from one labelled frame."""
    idx = colour_index(image)
    raw = np.stack([np.bincount(idx[labels == k], minlength=_BINS**3) for k in ids]).astype(np.float32)
    counts: F32 = cv2.GaussianBlur(raw, (0, 0), 0.5)  # a little smoothing across neighbouring bins
    like = (counts + 0.1) / (counts.sum(axis=1, keepdims=True) + 0.1 * _BINS**3)
    return (like / like.sum(axis=0, keepdims=True)).astype(np.float32)


class _Flows:
    """Reduced-resolution DIS flows between neighbouring frames, cached per frame pair."""

    def __init__(self, frames: Sequence[Image], preset: int, flow_size: int) -> None:
        self.frames = frames
        self.dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]
        h, w = frames[0].shape[:2]
        self.full = (w, h)
        self.scale = min(1.0, flow_size / max(h, w))
        self.small = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
        self.grey: dict[int, NDArray[Any]] = {}
        self.pairs: dict[tuple[int, int], NDArray[np.float16]] = {}
        self._last: tuple[int, Image] | None = None

    def frame(self, i: int) -> Image:
        """Frame ``i``; the last one is kept because lazy sources decode on every access."""
        if self._last is None or self._last[0] != i:
            self._last = (i, np.ascontiguousarray(self.frames[i]))
        return self._last[1]

    def _grey(self, i: int) -> NDArray[Any]:
        if i not in self.grey:
            g = cv2.cvtColor(self.frame(i), cv2.COLOR_RGB2GRAY)
            self.grey[i] = cv2.resize(g, self.small, interpolation=cv2.INTER_AREA)
        return self.grey[i]

    def flow(self, a: int, b: int) -> F32:
        """Low-resolution flow from frame ``a`` to frame ``b`` in low-resolution pixels."""
        if (a, b) not in self.pairs:
            self.pairs[a, b] = self.dis.calc(self._grey(a), self._grey(b), None).astype(np.float16)
        return self.pairs[a, b].astype(np.float32)

    def warp_maps(self, src: int, dst: int) -> tuple[F32, F32, F32]:
        """Full-resolution maps pulling ``src`` onto ``dst`` and fb-consistency in [0, 1]."""
        back = self.flow(dst, src)
        fwd = self.flow(src, dst)
        h, w = back.shape[:2]
        gy, gx = np.mgrid[:h, :w].astype(np.float32)
        fwd_at = cv2.remap(fwd, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        err = np.sqrt(np.sum((back + fwd_at) ** 2, axis=2)) / self.scale  # in full-res pixels
        sigma = 1.5 + 0.05 * np.sqrt(np.sum(back * back, axis=2)) / self.scale
        consist = np.exp(-0.5 * (err / sigma) ** 2).astype(np.float32)
        fw, fh = self.full
        up = cv2.resize(back, self.full, interpolation=cv2.INTER_LINEAR) / self.scale
        fy, fx = np.mgrid[:fh, :fw].astype(np.float32)
        consist = cv2.resize(consist, self.full, interpolation=cv2.INTER_LINEAR)
        return fx + up[..., 0], fy + up[..., 1], consist

    def forget(self) -> None:
        self.grey.clear()
        self.pairs.clear()


class FlowPropagator:
    """Weight-free propagator: DIS optical flow warping plus colour-edge snapping.

    Parameters
    ----------
    preset:
        DIS preset, ``"fast"`` or ``"medium"``.
    flow_size:
        Long side, in pixels, at which flow is computed.
    decay:
        Confidence lost per frame of distance from the seed.
    snap:
        Strength of the colour-edge snapping (0 disables it).
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "propagator"

    def __init__(self, *, preset: Literal["fast", "medium"] = "medium", flow_size: int = 320,
                 decay: float = 0.97, snap: float = 0.5) -> None:
        self.preset = cv2.DISOPTICAL_FLOW_PRESET_FAST if preset == "fast" else cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
        self.flow_size = flow_size
        self.decay = decay
        self.snap = snap

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def _chain(self, flows: _Flows, seed: int, stop: int, labels: Labels,
               ids: NDArray[np.uint8]) -> Iterator[tuple[int, Labels, SoftMap]]:
        """Carry ``labels`` from ``seed`` one frame at a time towards ``stop`` (inclusive)."""
        step = 1 if stop > seed else -1
        post = colour_posterior(flows.frame(seed), labels, ids) if self.snap > 0 else None
        lut = np.zeros(256, np.intp)
        lut[ids] = np.arange(len(ids))
        chain: F32 = np.ones(labels.shape, np.float32)
        sigma = max(1.0, 2.0 * max(labels.shape) / 854)
        for dst in range(seed + step, stop + step, step):
            src = dst - step
            mx, my, consist = flows.warp_maps(src, dst)
            moved = _move_objects(labels, flows.flow(src, dst), flows.scale, ids)
            chain = cv2.remap(chain, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            chain = chain * (self.decay * (0.5 + 0.5 * consist))
            margin = np.ones(labels.shape, np.float32)
            if post is not None and len(ids) > 1:
                moved, margin = self._snap(flows.frame(dst), moved, consist, ids, lut, post, sigma)
            labels = moved
            yield dst, labels, (chain * (0.5 + 0.5 * margin)).astype(np.float32)

    def _snap(self, image: Image, warped: Labels, consist: F32, ids: NDArray[np.uint8],
              lut: NDArray[np.intp], post: F32, sigma: float) -> tuple[Labels, F32]:
        """Move label boundaries onto colour edges within a few pixels of where the flow put them."""
        onehot = np.stack([cv2.GaussianBlur((warped == k).astype(np.float32), (0, 0), sigma) for k in ids])
        band = onehot.max(axis=0) < 0.999
        margin = np.ones(warped.shape, np.float32)
        if not band.any():
            return warped, margin
        idx = colour_index(image[band])
        prior = onehot[:, band]
        # Where the flow is unreliable (occlusions), let colour speak louder.
        power = self.snap * (1.5 - 0.5 * consist[band])
        score = prior * post[:, idx] ** power
        score /= score.sum(axis=0, keepdims=True) + 1e-12
        best = np.argmax(score, axis=0)
        out = warped.copy()
        out[band] = ids[best]
        top2 = np.sort(score, axis=0)[-2:] if len(ids) > 1 else np.stack([score[0] * 0, score[0]])
        margin[band] = top2[1] - top2[0]
        return out, margin

    def propagate(self, frames: Sequence[Image], seeds: dict[int, Labels],
                  direction: Direction = "both") -> list[Propagation]:
        """Propagate ``seeds`` (frame index -> labels) through ``frames``; one result per frame."""
        n = len(frames)
        if n == 0:
            return []
        h, w = np.asarray(frames[0]).shape[:2]
        out: list[Propagation | None] = [None] * n
        order = sorted(i for i in seeds if 0 <= i < n)
        for i in order:
            out[i] = Propagation(np.asarray(seeds[i], np.uint8).copy(), np.ones((h, w), np.float32))
        if order:
            ids = np.unique(np.concatenate([np.unique(seeds[i]) for i in order] + [np.zeros(1, np.uint8)]))
            ids = ids.astype(np.uint8)
            flows = _Flows(frames, self.preset, self.flow_size)
            fwd = direction in ("forward", "both")
            bwd = direction in ("backward", "both")
            bounds = [*order, None]
            for j, s in enumerate(order):
                nxt = bounds[j + 1]
                prev = order[j - 1] if j > 0 else None
                if fwd:
                    stop = n - 1 if nxt is None else nxt - 1
                    for i, lab, conf in self._chain(flows, s, stop, seeds[s], ids):
                        out[i] = Propagation(lab, conf)
                if bwd:
                    stop = 0 if prev is None else prev + 1
                    for i, lab, conf in self._chain(flows, s, stop, seeds[s], ids):
                        out[i] = _blend(out[i], lab, conf)
                # Flows of pairs left of this seed are used by both passes by now.
                flows.pairs = {k: v for k, v in flows.pairs.items() if min(k) >= s}
                flows.grey = {k: v for k, v in flows.grey.items() if k >= s}
            flows.forget()
        empty = Propagation(np.zeros((h, w), np.uint8), np.zeros((h, w), np.float32))
        return [p if p is not None else empty for p in out]


def _object_flow(flow: F32, mask: NDArray[np.bool_], radius: int) -> F32:
    """The object's own motion everywhere near it, extrapolated from its interior only.

    Dense flow is smoothed across motion boundaries, so vectors near an object's edge mix object
    and background motion; moving the mask with interior vectors keeps its edges where they belong.
    """
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    inner = cv2.erode(mask.astype(np.uint8), k).astype(np.float32)
    if inner.sum() < 4:
        inner = mask.astype(np.float32)
    wsum = cv2.GaussianBlur(inner, (0, 0), 2 * radius)
    out = cv2.GaussianBlur(flow * inner[..., None], (0, 0), 2 * radius) / np.maximum(wsum, 1e-6)[..., None]
    mean = (flow * inner[..., None]).sum(axis=(0, 1)) / max(float(inner.sum()), 1.0)
    return np.where((wsum > 1e-3)[..., None], out, mean).astype(np.float32)


def _move_objects(labels: Labels, flow: F32, scale: float, ids: NDArray[np.uint8]) -> Labels:
    """Forward-splat every object of ``labels`` along its own (low-resolution) flow."""
    h, w = labels.shape
    fh, fw = flow.shape[:2]
    radius = max(1, round(0.025 * max(fh, fw)))
    out = np.zeros_like(labels)
    close = np.ones((3, 3), np.uint8)
    # Larger objects first so that small ones (often in front) are painted over them.
    objs = sorted((int(k) for k in ids if k != 0), key=lambda k: -int(np.count_nonzero(labels == k)))
    for k in objs:
        m = labels == k
        ys, xs = np.nonzero(m)
        if len(ys) == 0:
            continue
        small = cv2.resize(m.astype(np.float32), (fw, fh), interpolation=cv2.INTER_AREA) > 0.25
        of = cv2.resize(_object_flow(flow, small, radius), (w, h), interpolation=cv2.INTER_LINEAR) / scale
        tx = np.rint(xs + of[ys, xs, 0]).astype(np.intp)
        ty = np.rint(ys + of[ys, xs, 1]).astype(np.intp)
        ok = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
        hit: NDArray[Any] = np.zeros((h, w), np.uint8)
        hit[ty[ok], tx[ok]] = 1
        # Splatting leaves pinholes where the object stretches; a 3x3 closing fills them.
        hit = cv2.erode(cv2.dilate(hit, close), close)
        out[hit > 0] = k
    return out


def _blend(prev: Propagation | None, labels: Labels, conf: SoftMap) -> Propagation:
    """Combine two propagations of one frame: per pixel, the more confident one wins."""
    if prev is None:
        return Propagation(labels, conf)
    take_new = conf > prev.confidence
    agree = labels == prev.labels
    merged = np.where(take_new, labels, prev.labels).astype(np.uint8)
    hi = np.maximum(conf, prev.confidence)
    lo = np.minimum(conf, prev.confidence)
    c = np.where(agree, 1.0 - (1.0 - hi) * (1.0 - lo), hi - lo)
    return Propagation(merged, c.astype(np.float32))
