"""The ECC refinement is a local correction: it never moves a frame's camera estimate further than
`MAX_REFINE_MOVE`, so a weak correlation ridge cannot slide a frame into a different alignment."""

from __future__ import annotations

import numpy as np
import pytest
from test_layer_quality import pan_shot

import models.classical.camera as camera_module
from models.classical.camera import refine_camera


def _estimate(n: int, off: dict[int, float]) -> list[np.ndarray]:
    """The pan's true motion (4.3 px a frame), frames in ``off`` shifted that many px along x."""
    out = []
    for i in range(n):
        t = np.eye(3)
        t[0, 2] = 40.0 + 4.3 * i + off.get(i, 0.0)
        t[1, 2] = 10.0
        out.append(t)
    return out


def test_corner_move_measures_the_farthest_corner() -> None:
    a = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    shifted = a.copy()
    shifted[0, 2] = 3.0
    scaled = np.array([[1.01, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    assert camera_module._corner_move(a, shifted, (100, 200)) == pytest.approx(3.0)
    assert camera_module._corner_move(a, scaled, (100, 200)) == pytest.approx(2.0, rel=1e-4)  # 1 % of 200 px


def test_a_refinement_that_would_move_a_frame_far_keeps_its_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    shot = pan_shot(8)
    frames, masks = shot["image"], shot["mask"]
    estimate = _estimate(len(frames), {3: 6.0})  # frame 3 starts 6 px off: not a sub-pixel error

    # Unbounded, ECC does pull frame 3 a long way (else the bound below would prove nothing) ...
    monkeypatch.setattr(camera_module, "MAX_REFINE_MOVE", 1e9)
    free = refine_camera(frames, estimate, masks, workers=1)
    assert abs(free[3][0, 2] - estimate[3][0, 2]) > 4.0

    # ... with the module's bound, it keeps its estimate, while the other frames still get their
    # small corrections.
    monkeypatch.undo()
    bounded = refine_camera(frames, estimate, masks, workers=1)
    assert np.array_equal(bounded[3], estimate[3])
    small = [float(np.abs(b - e).max()) for i, (b, e) in enumerate(zip(bounded, estimate, strict=True)) if i != 3]
    assert max(small) < 4.0
