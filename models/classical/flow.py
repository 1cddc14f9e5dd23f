"""Dense optical flow for the propagate stage: DIS flow at reduced resolution, cached per frame pair,
forward-backward consistency, and pulling full-resolution maps along a flow."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image

F32 = NDArray[Any]  # cv2 stubs type results loosely; keep internal arrays loose too


@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> NDArray[np.float32]:
    """Pixel coordinates ``(2, h, w)`` (rows, columns), made once per size: a 1080p grid costs ~20 ms
    and every propagation (one per keyframe segment) needs the same one. Read-only: it is shared."""
    grid = np.mgrid[:h, :w].astype(np.float32)
    grid.flags.writeable = False
    return grid


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
        self.grid_small = _grid(sh, sw)
        self.grid_full = _grid(h, w)
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
        """Drop the cached thumbnails and flows (the pass is over)."""
        self.grey.clear()
        self.pairs.clear()
