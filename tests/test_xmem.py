"""XMem: official key layout loads strictly; propagation, seeds and memory consolidation work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoints import load_checkpoint
from models.xmem import XMemPropagator
from models.xmem.network import XMemNetwork, build_random

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {"base": 4, "key_dim": 16, "value_dim": 32, "hidden_dim": 8}


def _save_tiny(tmp_path: Path, prefix: str = "") -> Path:
    torch.manual_seed(0)
    net = build_random(**TINY)
    path = tmp_path / "XMem.pth"
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    return path


def _toy_shot() -> tuple[list[np.ndarray], np.ndarray]:
    frames, labels = [], []
    for t in range(6):
        img = np.full((64, 64, 3), 40, np.uint8)
        lab = np.zeros((64, 64), np.uint8)
        lab[10:30, 5 + 2 * t : 25 + 2 * t] = 1
        lab[40:60, 35 - t : 55 - t] = 2
        img[lab == 1] = (220, 60, 60)
        img[lab == 2] = (60, 60, 220)
        frames.append(img)
        labels.append(lab)
    return frames, np.stack(labels)


def test_official_keys_load_strictly_and_prefix_is_stripped(tmp_path: Path) -> None:
    path = _save_tiny(tmp_path, prefix="module.")
    state = load_checkpoint(path)
    assert "key_encoder.res2.0.conv1.weight" in state
    assert state["value_encoder.conv1.weight"].shape[1] == 5  # RGB + mask + other objects
    net = XMemNetwork.from_state_dict(state)
    assert (net.key_dim, net.value_dim, net.hidden_dim, net.base) == (16, 32, 8, 4)
    net.load_state_dict(state, strict=True)


def test_propagation_returns_seeds_exactly_and_valid_label_maps(tmp_path: Path) -> None:
    frames, truth = _toy_shot()
    prop = XMemPropagator(_save_tiny(tmp_path), size=0, mem_every=2)
    prop.load("cpu")
    seeds = {0: truth[0], 5: truth[5]}
    out = prop.propagate(frames, seeds, direction="both")
    assert len(out) == 6
    for t, res in enumerate(out):
        assert res.labels.shape == (64, 64) and res.labels.dtype == np.uint8
        assert res.confidence.dtype == np.float32
        assert set(np.unique(res.labels)) <= {0, 1, 2}
        assert res.confidence.min() >= 0.0 and res.confidence.max() <= 1.0
        if t in seeds:
            assert np.array_equal(res.labels, seeds[t])
            assert np.all(res.confidence == 1.0)
        else:
            # Softmax over background + 2 objects: the winner has at least a third of the mass.
            assert res.confidence.min() >= 1 / 3 - 1e-3
    fwd = prop.propagate(frames, {2: truth[2]}, direction="forward")
    assert np.all(fwd[0].confidence == 0) and np.all(fwd[1].labels == 0)  # before the seed: nothing
    assert np.array_equal(fwd[2].labels, truth[2]) and fwd[3].confidence.max() > 0


def test_consolidation_keeps_long_term_memory_bounded(tmp_path: Path) -> None:
    frames, truth = _toy_shot()
    frames = frames + frames[::-1] + frames  # 18 frames
    prop = XMemPropagator(_save_tiny(tmp_path), size=0, mem_every=1, min_work_frames=1,
                          max_work_frames=2, num_prototypes=4, max_long_elements=10)
    prop.load("cpu")
    out = prop.propagate(frames, {0: truth[0]}, direction="forward")
    assert len(out) == 18 and np.array_equal(out[0].labels, truth[0])
    stats = prop.last_stats
    assert stats["consolidations"] >= 5
    assert 0 < stats["long_term_elements"] <= 10
    assert stats["working_elements"] <= 2 * 16  # 64x64 frame -> 4x4 = 16 elements per frame


def test_real_size_checkpoint_loads_strictly(tmp_path: Path) -> None:
    # ~62M parameters, the size of the official XMem.pth; takes a few seconds on CPU.
    net = build_random()
    assert 61e6 < sum(p.numel() for p in net.parameters()) < 63e6
    path = tmp_path / "XMem.pth"
    torch.save(net.state_dict(), path)
    prop = XMemPropagator(path, size=0)
    prop.load("cpu")
    frames, truth = _toy_shot()
    out = prop.propagate(frames[:2], {0: truth[0]}, direction="forward")
    assert out[1].labels.shape == (64, 64)


def test_further_seeds_go_to_permanent_memory_and_a_single_seed_never_does(tmp_path: Path) -> None:
    frames, truth = _toy_shot()
    prop = XMemPropagator(_save_tiny(tmp_path), size=0, mem_every=2)
    prop.load("cpu")
    prop.propagate(frames, {0: truth[0]}, direction="forward")
    assert prop.last_stats["permanent_elements"] == 0
    out = prop.propagate(frames, {0: truth[0], 3: truth[3]}, direction="forward")
    assert prop.last_stats["permanent_elements"] == 16  # the frame-3 seed: 4x4 elements, kept whole
    assert np.array_equal(out[3].labels, truth[3])
