"""A frame whose light, all of it together, is a speck holds none (`ClassicalEffectSeparator.least`):
on generated shots most frames with no effect still showed a few dozen pixels of "light" (the edge of a
drawing misread by the flow or the mask), and each of them scores an effect IoU of 0."""

from __future__ import annotations

import numpy as np

from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 12
WALL = (70, 90, 120)
GLINT = (250, 250, 230)


def glint_shot(side: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still character (an outlined box) and a bright square of ``side`` px drifting 2 px a frame
    over the background beside it through the whole shot; the square's place per frame."""
    rng = np.random.default_rng(5)
    bg = np.clip(np.array(WALL, np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    frames, masks, where = [], [], []
    for k in range(N):
        f = bg.copy()
        m = np.zeros((H, W), bool)
        m[30:170, 200:280] = True
        f[30:170, 200:280] = (20, 20, 20)
        f[33:167, 203:277] = (200, 150, 120)
        at = np.zeros((H, W), bool)
        at[60 : 60 + side, 40 + 2 * k : 40 + 2 * k + side] = True
        f[at] = GLINT
        frames.append(f)
        masks.append(m)
        where.append(at)
    return frames, masks, where


def found(side: int, least: float) -> list[int]:
    frames, masks, where = glint_shot(side)
    lights = ClassicalEffectSeparator(least=least).separate_shot_light(frames, masks, [np.eye(3)] * N)
    return [int((light.strength[at] >= 0.25).sum()) for light, at in zip(lights, where, strict=True)]


def test_a_lasting_speck_is_no_light() -> None:
    # 36 px a frame (0.06 % of it): the time filter keeps it (it lasts), `least` (0.1 %) does not.
    assert min(found(6, 0.0)) >= 30
    assert sum(found(6, 0.001)) == 0


def test_a_small_light_above_the_speck_size_stays() -> None:
    # 100 px a frame (0.17 %): light.
    assert min(found(10, 0.001)) >= 90


def test_a_drawing_the_flow_misplaced_by_a_pixel_is_no_light() -> None:
    """The drawing in a neighbour one pixel away and a little brighter (a redrawn fill, the flow's
    interpolation) is explained by that neighbour (`explain_tol` 16 levels, not 12)."""
    h, w = 120, 160
    before = np.full((h, w, 3), 60, np.uint8)
    before[20:100, 40:120] = (30, 30, 40)  # a dark coat
    before[20:100, 60:100] = (190, 170, 150)  # a pale fill on it
    now = before.copy()
    now[20:100, 40:120] = (30, 30, 40)
    now[20:100, 61:101] = (204, 184, 164)  # one pixel to the right and 14 levels brighter
    mask = np.zeros((h, w), bool)
    mask[20:100, 40:120] = True
    edge = np.zeros((h, w), bool)
    edge[22:98, 100] = True  # the column the fill moved onto
    neighbours = [before.copy() for _ in range(4)]

    def lit(tol: float) -> int:
        light = ClassicalEffectSeparator(explain_tol=tol).separate_light(
            now, mask, before, before, alone=False, neighbours=neighbours)
        return int((light.strength[edge] >= 0.25).sum())

    assert lit(12.0) > 50  # the check that the scene tests anything
    assert lit(16.0) == 0
    assert ClassicalEffectSeparator().explain_tol == 16.0
