"""GrabCut clicker: clicks refine the prior."""

from __future__ import annotations

import cv2
import numpy as np

from app.eval.metrics import region_j
from models.base import Prompt
from models.classical.clicks import GrabCutClicker


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img = (np.full((120, 160, 3), (60, 140, 60)) + rng.integers(0, 20, (120, 160, 3))).astype(np.uint8)
    cv2.circle(img, (60, 60), 30, (220, 50, 50), -1)
    cv2.rectangle(img, (100, 40), (140, 80), (40, 40, 220), -1)
    gt = np.zeros((120, 160), np.uint8)
    cv2.circle(gt, (60, 60), 30, 1, -1)
    return img, gt.astype(bool)


def test_negative_click_removes_extra_region() -> None:
    img, gt = _scene()
    prior = gt.copy()
    prior[40:81, 100:141] = True
    out = GrabCutClicker().predict("a", img, Prompt(points=((120, 60, False),)), prior)
    assert out[42:79, 102:139].mean() < 0.05
    assert region_j(out, gt) > 0.9


def test_positive_click_from_nothing_and_box() -> None:
    img, gt = _scene()
    c = GrabCutClicker()
    assert region_j(c.predict("b", img, Prompt(points=((60, 60, True),)), None), gt) > 0.85
    out = c.predict("c", img, Prompt(box=(25, 25, 95, 95)), None)
    assert region_j(out, gt) > 0.85
    assert not out[:, 100:].any()  # nothing outside the box


def test_no_prompt_returns_prior() -> None:
    img, gt = _scene()
    assert (GrabCutClicker().predict("d", img, Prompt(), gt) == gt).all()
