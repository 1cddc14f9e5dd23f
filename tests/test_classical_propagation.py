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


def _crossing(n: int = 18, h: int = 96, w: int = 144) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured disc (id 2) walks right at constant speed behind a static textured pillar (id 1)."""
    rng = np.random.default_rng(3)
    bg = (cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 2) // 3 + 30).astype(np.uint8)
    pillar = np.zeros((h, w), bool)
    pillar[10:90, 60:84] = True
    tex = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 1.2)
    yy, xx = np.mgrid[:h, :w]
    frames, labels = [], []
    for i in range(n):
        f = bg.copy()
        lab = np.zeros((h, w), np.uint8)
        disc = (yy - 50) ** 2 + (xx - (22 + 6 * i)) ** 2 < 14**2
        f[disc] = np.stack([tex[..., 0] // 2, tex[..., 1] // 2 + 40, tex[..., 2] // 2 + 120], -1)[disc]
        lab[disc] = 2
        f[pillar] = np.stack([tex[..., 0] // 2 + 120, tex[..., 1] // 2 + 40, tex[..., 2] // 2], -1)[pillar]
        lab[pillar] = 1
        frames.append(f)
        labels.append(lab)
    return frames, labels


def test_object_passing_behind_another_comes_out_on_the_far_side() -> None:
    # Drift recovery: the disc is hidden for several frames; it must not be dragged along with the
    # pillar (static) nor lost, but come out on the right and be tracked again.
    frames, labels = _crossing()
    out = FlowPropagator().propagate(frames, {0: labels[0]}, "forward")
    hidden = [i for i in range(len(frames)) if (labels[i] == 2).sum() < 0.2 * (labels[0] == 2).sum()]
    assert hidden, "the disc must be fully hidden for a while"
    assert region_j(out[-1].labels == 2, labels[-1] == 2) >= 0.75
    assert region_j(out[-1].labels == 1, labels[-1] == 1) >= 0.9
    # While hidden, the disc does not eat into the pillar in front of it.
    for i in hidden:
        assert np.count_nonzero((out[i].labels == 2) & (labels[i] == 1)) < 0.1 * np.count_nonzero(labels[i] == 1)


def test_sparse_seeds_merge_new_objects_with_propagated_ones() -> None:
    frames, labels = _crossing(n=6)
    first = np.where(labels[0] == 1, 1, 0).astype(np.uint8)  # the pillar only
    later = np.where(labels[2] == 2, 2, 0).astype(np.uint8)  # the disc is first labelled on frame 2
    for direction in ("forward", "both"):
        out = FlowPropagator().propagate(frames, {0: first, 2: later}, direction)  # type: ignore[arg-type]
        # The seed frame keeps its own object exactly and the pillar from frame 0 survives it.
        assert (out[2].labels[later == 2] == 2).all() and (out[2].confidence[later == 2] == 1).all()
        assert region_j(out[2].labels == 1, labels[2] == 1) >= 0.9
        assert region_j(out[5].labels == 1, labels[5] == 1) >= 0.9
        assert region_j(out[4].labels == 2, labels[4] == 2) >= 0.8
        assert ((out[0].labels == 1) == (first == 1)).all() and (out[0].confidence[first == 1] == 1).all()
        if direction == "forward":
            assert (out[0].labels == first).all() and not (out[1].labels == 2).any()
    # Going both ways, the disc also reaches back before its seed, and the pillar is not erased there.
    assert region_j(out[1].labels == 2, labels[1] == 2) >= 0.8
    assert region_j(out[0].labels == 2, labels[0] == 2) >= 0.8
    assert region_j(out[1].labels == 1, labels[1] == 1) >= 0.9
    # A seed holding every known object still comes back exactly.
    full = FlowPropagator().propagate(frames, {0: labels[0], 3: labels[3]}, "forward")
    assert (full[3].labels == labels[3]).all() and full[3].confidence.min() == 1.0
