"""Weight-free clean plates (stage 2c): fill each frame's hole from the rest of the shot.

A pan or a moving character uncovers, in some frame, most of the background that another frame
hides. For frame ``i`` we warp a fixed sample of source frames into it through the camera
(`align.estimate_camera`), take the per-pixel median of the sources that see the pixel as
background, and use it where at least ``min_votes`` sources agree to be present. What no frame shows
is filled by ``cv2.inpaint`` (Telea). The fill is feathered into the frame over a few pixels.

Warping sources straight into the frame (rather than through a shot-wide plate) interpolates each
pixel once, which keeps painted texture sharp; the sources are read once and held in memory, so
``max_sources`` bounds memory (16 full-HD frames are ~100 MB).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask, Role
from models.classical.align import (
    Matrix,
    estimate_camera,
    masked_median,
    sample_indices,
)

K3 = np.ones((3, 3), np.uint8)


class ClassicalInpainter:
    """Stage-2c backend: temporal fill through the camera, spatial inpainting for the rest.

    Parameters
    ----------
    max_sources
        Frames of the shot sampled as sources (memory bound).
    min_votes
        Sources that must see a pixel as background before the temporal fill is trusted.
    hole_grow
        Pixels the hole is grown by (anti-aliased outlines and matte fringes belong to it).
    feather
        Width in pixels of the seam blend.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "inpainter"

    def __init__(
        self, *, max_sources: int = 16, min_votes: int = 1, hole_grow: int = 2, feather: int = 3
    ) -> None:
        self.max_sources = max_sources
        self.min_votes = min_votes
        self.hole_grow = hole_grow
        self.feather = feather

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def clean_plates(
        self, frames: Sequence[Image], holes: Sequence[Mask], transforms: Sequence[Matrix] | None = None
    ) -> list[Image]:
        """One clean plate per frame, ``holes[i]`` filled in ``frames[i]``.

        ``transforms`` (from `estimate_camera`) may be passed when already known.
        """
        n = len(frames)
        if n == 0:
            return []
        # The holes are the foreground: keeping them out of the camera estimate keeps large
        # characters from pulling it.
        ts = list(transforms) if transforms is not None else estimate_camera(frames, foreground=holes)
        grown = [self._grow(np.asarray(h, bool)) for h in holes]
        src_idx = sample_indices(n, self.max_sources)
        # Sources drop only their own hole (and, below, one pixel of it): growing them as much as
        # the hole being filled starves the fill exactly where a slow character just moved away.
        sources = [(frames[j], np.asarray(holes[j], bool), ts[j]) for j in src_idx]
        def plate(i: int) -> Image:
            frame = np.asarray(frames[i])
            hole = grown[i]
            if not hole.any():
                return frame.copy()
            others = [(f, h, t) for j, (f, h, t) in zip(src_idx, sources, strict=True) if j != i]
            fill, votes = self._temporal_fill(frame.shape, hole, ts[i], others)
            trusted = votes >= self.min_votes
            rest = hole & ~trusted
            base = np.where(trusted[..., None], fill, frame)
            if rest.any():
                # Telea from the frame plus the temporal fill, so it continues the real background.
                base = cv2.inpaint(base, rest.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
            return self._blend(frame, base, hole)

        # Frames are independent once the camera is known; OpenCV and numpy release the GIL.
        with ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, n))) as pool:
            return list(pool.map(plate, range(n)))

    def _grow(self, hole: NDArray[np.bool_]) -> NDArray[np.bool_]:
        if self.hole_grow <= 0 or not hole.any():
            return hole
        return np.asarray(cv2.dilate(hole.astype(np.uint8), K3, iterations=self.hole_grow) > 0)

    def _temporal_fill(
        self,
        shape: tuple[int, ...],
        hole: NDArray[np.bool_],
        t_i: Matrix,
        others: list[tuple[Image, NDArray[np.bool_], Matrix]],
    ) -> tuple[Image, NDArray[np.int32]]:
        h, w = shape[:2]
        if not others:
            return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.int32)
        # Only the hole's bounding box needs sources: warp into that window alone.
        ys, xs = np.nonzero(hole)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        win = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        stack = np.zeros((len(others), y1 - y0, x1 - x0, 3), np.uint8)
        valid = np.zeros((len(others), y1 - y0, x1 - x0), bool)
        for k, (src, src_hole, t_j) in enumerate(others):
            # Frame i pixel -> plate (t_i) -> frame j pixel (inverse t_j), restricted to the window.
            m = (np.linalg.inv(t_j) @ t_i @ win)[:2]
            size = (x1 - x0, y1 - y0)
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            stack[k] = cv2.warpAffine(np.asarray(src), m, size, flags=flags)
            ok: NDArray[Any] = np.where(src_hole, 0, 255).astype(np.uint8)
            ok = cv2.erode(ok, K3, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            valid[k] = cv2.warpAffine(ok, m, size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
        fill = np.zeros((h, w, 3), np.uint8)
        votes = np.zeros((h, w), np.int32)
        fill[y0:y1, x0:x1] = masked_median(stack, valid)
        votes[y0:y1, x0:x1] = valid.sum(axis=0)
        return fill, votes

    def _blend(self, frame: Image, filled: Image, hole: NDArray[np.bool_]) -> Image:
        """Filled inside the hole, the frame outside, a feathered ramp just outside the hole."""
        if self.feather <= 0:
            return np.where(hole[..., None], filled, frame).astype(np.uint8)
        dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
        a = np.clip(1.0 - dist / float(self.feather + 1), 0.0, 1.0)[..., None]
        out = a * filled.astype(np.float32) + (1.0 - a) * frame.astype(np.float32)
        return np.asarray(np.clip(out + 0.5, 0, 255), np.uint8)
