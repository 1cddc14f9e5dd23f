"""The propagate stage, weight-free: propagate label maps through a shot with dense optical flow.

A pass walks the shot one frame at a time (forward from the first seed, backward from the last) and
tracks every object separately:

- Each object keeps an *amodal* mask (its visible part plus what others hide of it) and a velocity.
  It moves along its own flow, extrapolated from its visible interior (dense flow mixes object and
  background motion near edges); while it is mostly hidden it coasts on its velocity, so an object
  that passes behind another one comes out on the right side instead of being dragged along.
- Where objects overlap, a depth order decides who is visible; the order follows colour evidence
  (whose colour model explains the overlap better), with hysteresis.
- A partly hidden object is searched for around whatever hides it: background pixels there that
  only its colour model explains (posterior > 0.85) are given back to it, so it is picked up again
  when it comes out even if its velocity was off.
- Frames whose flow breaks down (flashes, anime impact frames, heavy blur: few forward-backward
  consistent pixels) are bridged: objects coast on their velocities there and the next frame's flow
  is taken from the last reliable frame, so one bad frame does not corrupt the rest of the shot.
- Label boundaries snap to colour edges in a narrow band with per-label colour histograms learnt on
  the seeds (updating them from propagated frames let drift into the models and lost quality).
- Confidence = forward-backward consistency accumulated along the pass x ``decay`` per frame x the
  snapping's label margin; halved on bridged frames.

Seeds merge with what is propagated: a seed frame is trusted for the objects its labels hold (their
pixels are exact, and they are nowhere else); objects it does not hold keep being propagated from
earlier seeds of the pass. A seed holding every known object therefore resets the pass, and sparse
annotations (each object labelled only on the frame where it first appears) accumulate. Passes of
the two directions are blended per pixel by confidence, where a pass's background only counts
against the objects that pass knows.
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
    # A little smoothing across neighbouring bins, never across labels (rows).
    counts: F32 = cv2.GaussianBlur(raw, (3, 1), 0.5, borderType=cv2.BORDER_REPLICATE)
    like = (counts + 0.1) / (counts.sum(axis=1, keepdims=True) + 0.1 * _BINS**3)
    return (like / like.sum(axis=0, keepdims=True)).astype(np.float32)


class Flows:
    """Reduced-resolution DIS flows between frames, cached per frame pair."""

    def __init__(self, frames: Sequence[Image], preset: int, flow_size: int) -> None:
        self.frames = frames
        self.dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]
        h, w = np.asarray(frames[0]).shape[:2]
        self.full = (w, h)
        self.scale = min(1.0, flow_size / max(h, w))
        self.small = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
        sw, sh = self.small
        self.grid_small = np.mgrid[:sh, :sw].astype(np.float32)
        self.grid_full = np.mgrid[:h, :w].astype(np.float32)
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
            if len(self.grey) > 8:  # frames are visited in order; old ones are not needed again
                self.grey.pop(next(iter(self.grey)))
        return self.grey[i]

    def flow(self, a: int, b: int) -> F32:
        """Low-resolution flow from frame ``a`` to frame ``b`` in low-resolution pixels."""
        if (a, b) not in self.pairs:
            self.pairs[a, b] = self.dis.calc(self._grey(a), self._grey(b), None).astype(np.float16)
            if len(self.pairs) > 600:  # ~140 MB at 320x180; lets a backward pass reuse them
                self.pairs.pop(next(iter(self.pairs)))
        return self.pairs[a, b].astype(np.float32)

    def consistency(self, fwd: F32, back: F32) -> F32:
        """Forward-backward consistency in [0, 1] at every low-resolution pixel of the later frame."""
        gy, gx = self.grid_small
        fwd_at = cv2.remap(fwd, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        err = np.sqrt(np.sum((back + fwd_at) ** 2, axis=2)) / self.scale  # in full-res pixels
        sigma = 1.5 + 0.05 * np.sqrt(np.sum(back * back, axis=2)) / self.scale
        return np.exp(-0.5 * (err / sigma) ** 2).astype(np.float32)

    def pull(self, values: F32, back: F32, consist: F32) -> tuple[F32, F32]:
        """``values`` (full resolution) pulled along ``back`` and the full-resolution consistency."""
        up = cv2.resize(back, self.full, interpolation=cv2.INTER_LINEAR) / self.scale
        fy, fx = self.grid_full
        out = cv2.remap(values, fx + up[..., 0], fy + up[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out, cv2.resize(consist, self.full, interpolation=cv2.INTER_LINEAR)

    def forget(self) -> None:
        self.grey.clear()
        self.pairs.clear()

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

    def merge_seed(self, image: Image, seed: Labels) -> None:
        """Trust ``seed`` for the objects it holds; keep the others where it labels nothing."""
        held = [int(k) for k in np.unique(seed) if k != 0]
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
            shown[k] = np.count_nonzero(self.labels == k) / max(self.area[k], 1.0)
            moved[k], self.vel[k] = _move(self.amodal[k], self.labels == k, shown[k], flow, scale, self.vel[k], gap,
                                          radius)
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
        onehot = np.stack([cv2.GaussianBlur((warped == k).astype(np.float32), (0, 0), self.sigma) for k in ids])
        band = onehot.max(axis=0) < 0.999
        margin = np.ones(warped.shape, np.float32)
        if not band.any():
            return warped, margin
        idx = colour_index(image[band])
        # Where the flow is unreliable (occlusions), let colour speak louder.
        power = self.snap * (1.5 - 0.5 * consist[band])
        score = onehot[:, band] * self.post[:, idx] ** power
        score /= score.sum(axis=0, keepdims=True) + 1e-12
        out = warped.copy()
        out[band] = ids[np.argmax(score, axis=0)]
        top2 = np.partition(score, -2, axis=0)[-2:]
        margin[band] = top2[1] - top2[0]
        return out, margin


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
    hit: NDArray[Any] = np.zeros((h, w), np.uint8)
    hit[ty[ok], tx[ok]] = 1
    # Splatting leaves pinholes where the object stretches; a 3x3 closing fills them.
    close = np.ones((3, 3), np.uint8)
    return cv2.erode(cv2.dilate(hit, close), close) > 0, vel



class FlowPropagator:
    """Weight-free propagator: per-object flow tracking with occlusion order and colour-edge snapping.

    Parameters
    ----------
    preset:
        DIS preset, ``"fast"`` or ``"medium"``.
    flow_size:
        Long side, in pixels, at which flow is computed.
    decay:
        Confidence kept per frame of distance from the seed.
    snap:
        Strength of the colour-edge snapping (0 disables it).
    band:
        Width (Gaussian sigma, in pixels at 854 px long side) of the band where snapping acts.
    min_consistent:
        A frame whose share of forward-backward consistent pixels falls below this is bridged
        (objects coast on their velocities) instead of tracked.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "propagator"

    def __init__(self, *, preset: Literal["fast", "medium"] = "medium", flow_size: int = 320,
                 decay: float = 0.97, snap: float = 0.5, band: float = 2.0, min_consistent: float = 0.4) -> None:
        self.preset = cv2.DISOPTICAL_FLOW_PRESET_FAST if preset == "fast" else cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
        self.flow_size = flow_size
        self.decay = decay
        self.snap = snap
        self.band = band
        self.min_consistent = min_consistent

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def _pass(self, flows: Flows, seeds: dict[int, Labels], order: list[int],
              stop: int) -> Iterator[tuple[int, Labels, SoftMap, frozenset[int]]]:
        """One pass from ``order[0]`` to ``stop`` (inclusive), merging each seed of ``order`` on its frame.

        Yields ``(frame, labels, confidence, known ids)`` for every frame, seed frames included.
        """
        step = 1 if stop >= order[0] else -1
        tracks = Tracks(flows.full[::-1], self.snap, self.band)
        anchor = order[0]
        bridged = 0
        for dst in range(order[0], stop + step, step):
            seed = np.asarray(seeds[dst], np.uint8) if dst in seeds else None
            # Objects a seed does not hold are carried onto its frame first, then merged with it.
            carry = dst != order[0] and (seed is None or not set(np.unique(seed).tolist()) >= set(tracks.order))
            if carry:
                flow = flows.flow(anchor, dst)
                back = flows.flow(dst, anchor)
                consist = flows.consistency(flow, back)
                gap = abs(dst - anchor)
                conf, consist_full = flows.pull(tracks.conf, back, consist)
                conf = conf * (self.decay**gap * (0.5 + 0.5 * consist_full))
                if seed is None and float(np.mean(consist > 0.5)) < self.min_consistent and bridged < 3:
                    # The flow broke down (flash, impact frame): coast, keep the state at the anchor.
                    bridged += 1
                    yield dst, tracks.coast(gap), (0.5 * conf).astype(np.float32), frozenset(tracks.order)
                    continue
                tracks.step(flows.frame(dst), flow, flows.scale, consist_full, gap)
                tracks.conf = conf.astype(np.float32)
            anchor, bridged = dst, 0
            if seed is not None:
                tracks.merge_seed(flows.frame(dst), seed)
                yield dst, tracks.labels.copy(), tracks.conf.copy(), frozenset(tracks.order)
            else:
                yield dst, tracks.labels.copy(), tracks.visible_conf(), frozenset(tracks.order)

    def propagate(self, frames: Sequence[Image], seeds: dict[int, Labels],
                  direction: Direction = "both") -> list[Propagation]:
        """Propagate ``seeds`` (frame index -> labels) through ``frames``; one result per frame.

        A seed frame's labels are trusted for the objects they hold; objects a seed does not hold
        are merged in from the earlier seeds of the same pass (see the module docstring), so a seed
        holding every known object comes back unchanged with confidence 1, and a seed introducing a
        new object keeps the others (with their propagated confidence).
        """
        n = len(frames)
        if n == 0:
            return []
        h, w = np.asarray(frames[0]).shape[:2]
        order = sorted(i for i in seeds if 0 <= i < n)
        out: list[Propagation | None] = [None] * n
        known: list[frozenset[int]] = [frozenset()] * n
        if order:
            flows = Flows(frames, self.preset, self.flow_size)
            if direction in ("forward", "both"):
                for i, lab, conf, ids in self._pass(flows, seeds, order, n - 1):
                    out[i], known[i] = Propagation(lab, conf), ids
            if direction in ("backward", "both"):
                for i, lab, conf, ids in self._pass(flows, seeds, order[::-1], 0):
                    out[i] = _blend(out[i], known[i], Propagation(lab, conf), ids)
                    known[i] = known[i] | ids
            flows.forget()
        empty = Propagation(np.zeros((h, w), np.uint8), np.zeros((h, w), np.float32))
        return [p if p is not None else empty for p in out]


def _blend(prev: Propagation | None, prev_ids: frozenset[int], new: Propagation,
           new_ids: frozenset[int]) -> Propagation:
    """Combine two passes' results for one frame: per pixel, the more confident one wins.

    A pass's background (or another object) says nothing about an object that pass never saw, so
    such a label is kept from the pass that knows it.
    """
    if prev is None:
        return new
    a, ca, b, cb = prev.labels, prev.confidence, new.labels, new.confidence
    take_new = cb > ca
    unknown_to_new = ~np.isin(a, list(new_ids)) & (a != 0)
    unknown_to_prev = ~np.isin(b, list(prev_ids)) & (b != 0)
    take_new = np.where(unknown_to_new & ~unknown_to_prev, False, take_new)
    take_new = np.where(unknown_to_prev & ~unknown_to_new, True, take_new)
    merged = np.where(take_new, b, a).astype(np.uint8)
    hi, lo = np.maximum(ca, cb), np.minimum(ca, cb)
    c = np.where(a == b, 1.0 - (1.0 - hi) * (1.0 - lo), np.where(unknown_to_new | unknown_to_prev,
                                                                np.where(take_new, cb, ca), hi - lo))
    return Propagation(merged, c.astype(np.float32))
