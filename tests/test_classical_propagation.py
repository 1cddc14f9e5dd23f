"""Flow propagator on a translating textured blob."""

from __future__ import annotations

import cv2
import numpy as np

from app.eval.metrics import region_j
from models.classical.propagation import FlowPropagator


def _shot(n: int = 9, h: int = 96, w: int = 128, step: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(1)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 2)
    bg = (bg // 2 + 40).astype(np.uint8)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (40, 40, 3)).astype(np.uint8), (0, 0), 1.5)
    tex[..., 0] = np.clip(tex[..., 0].astype(int) + 120, 0, 255)
    frames, masks = [], []
    yy, xx = np.mgrid[:40, :40]
    blob = (yy - 20) ** 2 + (xx - 20) ** 2 < 18**2
    for i in range(n):
        f, m = bg.copy(), np.zeros((h, w), bool)
        x0, y0 = 20 + step * i, 25 + i
        f[y0:y0 + 40, x0:x0 + 40][blob] = tex[blob]
        m[y0:y0 + 40, x0:x0 + 40] = blob
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_translating_blob_forward() -> None:
    frames, masks = _shot()
    out = FlowPropagator().propagate(frames, {0: masks[0].astype(np.uint8)}, "forward")
    assert len(out) == len(frames)
    assert out[0].confidence.min() == 1.0 and (out[0].labels == masks[0]).all()
    assert region_j(out[8].labels == 1, masks[8]) >= 0.9
    assert out[8].confidence.dtype == np.float32 and 0 < out[8].confidence.max() <= 1


def test_two_seeds_and_two_objects() -> None:
    frames, masks = _shot()
    seeds = {}
    for i in (0, 8):
        lab = masks[i].astype(np.uint8) * 2
        lab[:10, :10] = 1  # a second, static object
        seeds[i] = lab
    out = FlowPropagator().propagate(frames, seeds, "both")
    assert (out[8].labels == seeds[8]).all()
    assert region_j(out[4].labels == 2, masks[4]) >= 0.9
    assert region_j(out[4].labels == 1, seeds[0] == 1) >= 0.8
    # Between two seeds the confidence is not lower than one seed alone would give.
    alone = FlowPropagator().propagate(frames, {0: seeds[0]}, "forward")
    assert out[7].confidence.mean() >= alone[7].confidence.mean()


def test_backward_only_leaves_later_frames_empty() -> None:
    frames, masks = _shot(n=5)
    out = FlowPropagator().propagate(frames, {2: masks[2].astype(np.uint8)}, "backward")
    assert region_j(out[0].labels == 1, masks[0]) >= 0.85
    assert out[4].labels.max() == 0 and out[4].confidence.max() == 0
