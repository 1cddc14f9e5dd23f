"""Metrics on hand-made masks, the click protocol, and the DAVIS loader."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.eval.clicks_protocol import next_click, noc, simulate
from app.eval.davis import eval_propagation, load_davis
from app.eval.metrics import boundary_prf, mse, psnr, region_j, sad, seg2bmap
from models.base import Prompt
from models.classical.propagation import FlowPropagator


def _square(y0: int, x0: int, n: int, shape: tuple[int, int] = (100, 100)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y0 + n, x0:x0 + n] = True
    return m


def test_region_j_known_values() -> None:
    a, b = _square(0, 0, 10), _square(0, 5, 10)
    assert region_j(a, b) == pytest.approx(50 / 150)
    assert region_j(a, a) == 1.0
    assert region_j(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0


def test_boundary_f_known_values() -> None:
    # Tolerance is ceil(0.008 * diagonal) = 2 px on 100x100: a 1-px shift matches fully,
    # a 10-px shift only where the two outlines run together.
    gt = _square(20, 20, 40)
    assert boundary_prf(gt, gt)[2] == 1.0
    assert boundary_prf(_square(21, 20, 40), gt)[2] == 1.0
    p, r, f = boundary_prf(_square(20, 30, 40), gt)
    bp, bg = seg2bmap(_square(20, 30, 40)), seg2bmap(gt)
    assert 0.3 < f < 0.8 and p == pytest.approx(r, abs=0.05)
    assert bp.sum() == bg.sum() == 4 * 40  # DAVIS seg2bmap: inner pixels top/left, outer bottom/right
    assert boundary_prf(np.zeros((10, 10)), _square(2, 2, 4, (10, 10))) == (1.0, 0.0, 0.0)


def test_matte_metrics() -> None:
    a = np.zeros((10, 10), np.float32)
    b = np.full((10, 10), 0.5, np.float32)
    assert sad(a, b) == pytest.approx(50.0)
    assert mse(a, b) == pytest.approx(0.25)
    assert psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)) == pytest.approx(0.0)


def test_first_click_inside_object_and_negative_clicks() -> None:
    gt = _square(30, 40, 20)
    x, y, pos = next_click(np.zeros_like(gt), gt) or (0, 0, False)
    assert pos and gt[int(y), int(x)] and abs(x - 49.5) <= 1 and abs(y - 39.5) <= 1
    pred = gt | _square(0, 0, 25)
    x, y, pos = next_click(pred, gt) or (0, 0, True)
    assert not pos and pred[int(y), int(x)] and not gt[int(y), int(x)]
    assert next_click(gt, gt) is None
    assert noc([0.5, 0.86, 0.91], 0.85) == 2 and noc([0.5], 0.9) == 20


class _Oracle:
    """Fixes the error region under each click, and nothing else."""

    name = "oracle"
    role = "clicker"

    def __init__(self, gt: np.ndarray) -> None:
        self.gt = gt

    def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
        out = np.zeros(self.gt.shape, bool) if prior is None else prior.copy()
        x, y, pos = prompt.points[-1]
        _, comp = cv2.connectedComponents((out != self.gt).astype(np.uint8))
        out[comp == comp[int(y), int(x)]] = pos
        return out


def test_simulate_runs_the_protocol() -> None:
    gt = _square(5, 5, 10, (40, 40)) | _square(25, 25, 8, (40, 40))
    ious = simulate(_Oracle(gt), "x", np.zeros((40, 40, 3), np.uint8), gt)  # type: ignore[arg-type]
    assert len(ious) == 2 and ious[0] == pytest.approx(100 / 164) and ious[1] == 1.0
    assert noc(ious, 0.85) == 2


def _write_davis(root: Path, n: int = 5) -> None:
    (root / "JPEGImages/blob").mkdir(parents=True)
    (root / "Annotations/blob").mkdir(parents=True)
    rng = np.random.default_rng(0)
    bg = (rng.integers(0, 255, (48, 64, 3)) // 3).astype(np.uint8)
    for i in range(n):
        f, m = bg.copy(), np.zeros((48, 64), np.uint8)
        m[10:30, 10 + 2 * i:30 + 2 * i] = 255
        f[m > 0] = (230, 60, 60)
        Image.fromarray(f).save(root / f"JPEGImages/blob/{i:05d}.png")
        if i % 2 == 0:  # sparse annotations, grey levels
            Image.fromarray(m).save(root / f"Annotations/blob/{i:05d}.png")


def test_davis_loader_and_propagation_eval(tmp_path: Path) -> None:
    _write_davis(tmp_path)
    seqs = load_davis(tmp_path)
    assert len(seqs) == 1 and sorted(seqs[0].annotations) == [0, 2, 4]
    assert set(np.unique(seqs[0].labels(0)).tolist()) == {0, 1}
    res = eval_propagation(tmp_path, FlowPropagator())
    assert res["sequences"]["blob"]["scored"] == 2
    assert res["J"] > 0.85 and 0 < res["JF"] <= 1
