"""The weight-free region clicker: clicks refine the prior."""

from __future__ import annotations

import cv2
import numpy as np

from app.eval.clicks_protocol import simulate
from app.eval.metrics import region_j
from models.base import Prompt
from models.classical.clicks import RegionClicker


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
    out = RegionClicker().predict("a", img, Prompt(points=((120, 60, False),)), prior)
    assert out[42:79, 102:139].mean() < 0.05
    assert region_j(out, gt) > 0.9


def test_positive_click_from_nothing_and_box() -> None:
    img, gt = _scene()
    c = RegionClicker()
    assert region_j(c.predict("b", img, Prompt(points=((60, 60, True),)), None), gt) > 0.85
    out = c.predict("c", img, Prompt(box=(25, 25, 95, 95)), None)
    assert region_j(out, gt) > 0.85
    assert not out[:, 100:].any()  # nothing outside the box


def test_no_prompt_returns_prior() -> None:
    img, gt = _scene()
    assert (RegionClicker().predict("d", img, Prompt(), gt) == gt).all()


def _flat_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anime-like: flat regions with dark outlines; returns image, the ellipse and the square."""
    img = np.full((120, 160, 3), (200, 210, 230), np.uint8)
    ell = np.zeros((120, 160), np.uint8)
    cv2.ellipse(ell, (55, 60), (35, 45), 0, 0, 360, 1, -1)
    sq = np.zeros((120, 160), np.uint8)
    cv2.rectangle(sq, (105, 30), (145, 90), 1, -1)
    img[ell > 0] = (240, 190, 160)
    img[sq > 0] = (90, 120, 200)
    for m in (ell, sq):
        cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, cnts, -1, (30, 25, 35), 2)
    return img, ell.astype(bool), sq.astype(bool)


def test_one_positive_click_claims_whole_flat_region() -> None:
    img, ell, _ = _flat_scene()
    out = RegionClicker().predict("f1", img, Prompt(points=((50, 70, True),)), None)
    assert region_j(out, ell) >= 0.9
    assert not out[:, 100:].any()  # nothing leaks over the outline into the other region


def test_negative_click_removes_whole_extra_flat_region() -> None:
    img, ell, sq = _flat_scene()
    out = RegionClicker().predict("f2", img, Prompt(points=((125, 60, False),)), ell | sq)
    assert not (out & sq).any()
    assert region_j(out, ell) >= 0.95  # the correct part of the prior is kept


def test_earlier_clicks_stay_satisfied() -> None:
    img, _, _ = _flat_scene()
    c = RegionClicker()
    pts = ((50, 70, True), (125, 60, True), (55, 20, False))
    pred = None
    for k in range(1, 4):
        pred = c.predict("f3", img, Prompt(points=pts[:k]), pred)
        for x, y, pos in pts[:k]:
            # The clicker sets the clicked pixel itself, so that pixel proves nothing: each click must
            # still own a region around it (added for a positive click, cut out for a negative one).
            _, comp = cv2.connectedComponents((pred == pos).astype(np.uint8), connectivity=4)
            assert (comp == comp[y, x]).sum() >= 40, (k, x, y)


def test_protocol_reaches_090_in_three_clicks_on_two_regions() -> None:
    img, ell, sq = _flat_scene()  # the object is both regions: two clicks needed at least
    ious = simulate(RegionClicker(), "f4", img, ell | sq, max_clicks=5)
    assert max(ious[:3]) >= 0.9
