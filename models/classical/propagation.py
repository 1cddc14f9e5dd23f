"""The propagate stage, weight-free: propagate label maps through a shot with dense optical flow
(`flow`: the flow fields; `tracks`: the per-object state of a pass; here: the passes and their blend).

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
from typing import ClassVar, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Direction, Image, Labels, Propagation, Role, SoftMap
from models.classical.flow import Flows
from models.classical.tracks import Tracks, label_ids


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
            held = label_ids(seed) if seed is not None else []  # counted once: merging needs them too
            # Objects a seed does not hold are carried onto its frame first, then merged with it.
            carry = dst != order[0] and (seed is None or not set(held) >= set(tracks.order))
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
                tracks.merge_seed(flows.frame(dst), seed, held)
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
    unknown_to_new = _unknown(new_ids)[a]
    unknown_to_prev = _unknown(prev_ids)[b]
    # Per pixel: the more confident pass, unless only one pass knows the label there (boolean algebra
    # instead of chained np.where: the same choice with fewer full-frame temporaries).
    take_new = ((cb > ca) & ~(unknown_to_new & ~unknown_to_prev)) | (unknown_to_prev & ~unknown_to_new)
    merged = np.where(take_new, b, a).astype(np.uint8)
    hi, lo = np.maximum(ca, cb), np.minimum(ca, cb)
    same = a == b
    c = np.where(same, 1.0 - (1.0 - hi) * (1.0 - lo), hi - lo)
    # Where only one pass knows the label (few pixels), the confidence of the pass taken.
    one_knows = ~same & (unknown_to_new | unknown_to_prev)
    c[one_knows] = np.where(take_new[one_knows], cb[one_knows], ca[one_knows])
    return Propagation(merged, c.astype(np.float32))


def _unknown(ids: frozenset[int]) -> NDArray[np.bool_]:
    """A lookup table over label values: True for an object not among ``ids`` (indexing a uint8 map
    with it is `np.isin` without the sort)."""
    table = np.ones(256, bool)
    table[0] = False
    table[list(ids)] = False
    return table
