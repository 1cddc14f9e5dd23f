"""The invented-pixel measures: a perfect plate scores perfectly, a blur loses sharpness and SSIM."""

from __future__ import annotations

import cv2
import numpy as np

from app.eval.plate_measures import invented_measures


def striped() -> np.ndarray:
    """Flat bands of colour separated by dark lines, like a painted background."""
    img = np.zeros((80, 120, 3), np.uint8)
    for k, colour in enumerate([(90, 160, 220), (200, 190, 170), (120, 180, 90), (230, 200, 120)]):
        img[:, 30 * k:30 * k + 30] = colour
        img[:, 30 * k:30 * k + 2] = (20, 20, 30)
    return img


def test_the_truth_itself_scores_perfectly() -> None:
    truth = striped()
    where = np.zeros(truth.shape[:2], bool)
    where[20:60, 10:110] = True
    m = invented_measures(truth, truth, where)
    assert m["ssim"] == 1.0 and m["grad_error"] == 0.0 and m["sharpness"] == 1.0


def test_a_blur_is_less_sharp_and_less_similar() -> None:
    truth = striped()
    where = np.zeros(truth.shape[:2], bool)
    where[20:60, 10:110] = True
    blurred = truth.copy()
    blurred[where] = cv2.GaussianBlur(truth, (0, 0), 4)[where]
    m = invented_measures(blurred, truth, where)
    assert m["sharpness"] is not None and m["sharpness"] < 0.6
    assert m["ssim"] is not None and m["ssim"] < 0.8
    assert m["grad_error"] is not None and m["grad_error"] > 10
    assert m["psnr_db"] is not None and m["psnr_db"] < 30


def test_nothing_invented_gives_no_figures() -> None:
    truth = striped()
    assert all(v is None for v in invented_measures(truth, truth, np.zeros(truth.shape[:2], bool)).values())
