"""Over a character, a colour that is one of the shot's frequent fills is no light (`effect_palette`):
on onepiece_demo.mp4 (no effects) most false light was a redrawn mouth or a turned head measured
against the neighbouring frames, which show another drawing."""

from __future__ import annotations

import numpy as np

from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 12
WALL = (70, 90, 120)
SKIN = (200, 150, 120)
CREAM = (235, 230, 225)  # brighter than the skin in every channel, as added light would make it


def mouth_shot() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A still character: a skin face with a dark outline over a cream shirt; in frames 5-7 the mouth
    is redrawn open onto cream teeth (a patch of the face takes the shirt's fill)."""
    rng = np.random.default_rng(3)
    bg = np.clip(np.array(WALL, np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    frames, masks = [], []
    for k in range(N):
        f = bg.copy()
        m = np.zeros((H, W), bool)
        m[30:170, 110:210] = True
        f[30:170, 110:210] = (20, 20, 20)  # outline
        f[33:100, 113:207] = SKIN
        f[100:167, 113:207] = CREAM
        if 5 <= k < 8:
            f[70:90, 140:180] = CREAM
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_a_redrawn_mouth_onto_a_fill_is_no_light() -> None:
    frames, masks = mouth_shot()
    ts = [np.eye(3)] * N
    mouth = np.zeros((H, W), bool)
    mouth[70:90, 140:180] = True
    # Without the fills the mouth reads as light against the neighbours (the check that the scene tests anything).
    without = ClassicalEffectSeparator(fill_share=0.0).separate_shot_light(frames, masks, ts)
    assert sum(int((without[k].strength[mouth] >= 0.25).sum()) for k in range(5, 8)) > 600
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, ts)
    false = [int((light.strength[masks[0]] > 0).sum()) for light in lights]
    assert sum(false) == 0, false

