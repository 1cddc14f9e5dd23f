"""Cues of anime effects the separator relies on (lone speed lines that last, faint light over dark
backgrounds) and the pooled effect IoU of the evaluation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.demo.generator import GeneratedFrame
from app.eval.layer_quality import light_measures, pool_rebuild
from models.classical.effect_time import keep_lasting_groups
from models.classical.effects import ClassicalEffectSeparator

H, W = 90, 160
GOLD = np.array([255, 200, 80], np.float32)


def line(frame: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    cv2.line(frame, (x0, y0), (x1, y1), 1.0, 1)


def test_a_lone_speed_line_that_lasts_is_kept() -> None:
    maps = [np.zeros((H, W), np.float32) for _ in range(5)]
    line(maps[0], 10, 10, 60, 20)  # a thin line of ~50 px, far below min_pixels, over two frames
    line(maps[1], 11, 10, 61, 21)
    maps[1][60:67, 100:107] = 1.0  # a compact blob of as many pixels in one frame ...
    maps[2][61:68, 101:108] = 1.0  # ... and the next: lasting, but no streak
    line(maps[4], 10, 70, 60, 80)  # a line in one frame only
    out = keep_lasting_groups(maps, min_pixels=100.0, reach=4, streak=30.0)
    assert np.array_equal(out[0], maps[0]) and out[1][5:30, 5:70].any()
    assert not out[1][55:75, 95:115].any() and not out[2].any()
    assert not out[4].any()
    # Without the streak cue the line is a speck like the others.
    plain = keep_lasting_groups(maps, min_pixels=100.0, reach=4)
    assert not any(m.any() for m in plain)


def test_faint_light_over_a_dark_background_keeps_its_strength() -> None:
    """The frame's brightness gates what is light, not how strong it is: light of strength 0.3 over
    a dark background is stored as 0.3 (it was scaled down by the brightness ramp to ~0.14)."""
    bg = np.full((H, W, 3), 30, np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    spot = ((xx - 80) ** 2 + (yy - 45) ** 2) <= 15**2
    frame = np.clip(bg + 0.3 * spot[..., None] * GOLD + 0.5, 0, 255).astype(np.uint8)
    s = ClassicalEffectSeparator().separate(frame, np.zeros((H, W), bool), bg)
    inner = cv2.erode(spot.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert float(np.median(s[inner])) == pytest.approx(0.3, abs=0.03)


def generated(effects: np.ndarray) -> GeneratedFrame:
    zero = np.zeros(effects.shape, np.float32)
    clean = np.full((*effects.shape, 3), 100, np.uint8)
    return GeneratedFrame(clean, zero.astype(np.uint8), zero, effects, clean, np.zeros_like(clean),
                          np.zeros_like(clean))


def test_the_pooled_iou_weighs_each_effect_pixel_once() -> None:
    """A fade frame whose 20 pixels are missed scores 0 in the per-frame mean, as much as a frame of a
    thousand; pooled over the frames it weighs its 20 pixels."""
    fade, burst = np.zeros((H, W), np.float32), np.zeros((H, W), np.float32)
    fade[5:9, 5:10] = 0.5  # 20 px
    burst[20:45, 20:60] = 0.8  # 1000 px
    found_burst = burst.copy()
    found_burst[60:70, 100:110] = 0.5  # 100 px of false light
    per: dict[str, list[float | None]] = {}
    for truth, found in ((fade, np.zeros_like(fade)), (burst, found_burst)):
        for key, value in light_measures(generated(truth), found, None).items():
            per.setdefault(key, []).append(value)
    assert per["effects_iou_ignoring_tiny"] == [pytest.approx(1000 / 1100)]  # the fade is below the tiny cut
    assert pool_rebuild(per)["effects_iou_pooled"] == pytest.approx(1000 / 1120, abs=1e-4)
