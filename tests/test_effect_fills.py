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



def test_lasting_light_is_no_fill_of_the_frames_without_light() -> None:
    """A steady aura over the shirt in 6 of the 12 frames makes the lit shirt's colour one of the shot's
    frequent colours; the fills are counted in the frames without light, so it stays light, and the
    redrawn mouth (the shirt's fill, which the unlit frames show) is still none."""
    from models.classical.effect_light import EffectLight

    frames, masks = mouth_shot()
    lit = range(3, 9)
    pink = np.array((255, 110, 200), np.float32)
    shirt = np.zeros((H, W), bool)
    shirt[110:160, 120:200] = True
    lights = []
    for k in range(N):
        s = np.zeros((H, W), np.float32)
        if k in lit:
            f = frames[k].astype(np.float32)
            f[shirt] = 0.5 * f[shirt] + 0.5 * pink
            frames[k] = np.clip(f + 0.5, 0, 255).astype(np.uint8)
            s[shirt] = 0.5
        if 5 <= k < 8:
            s[70:90, 140:180] = 0.5  # the mouth, misread as light
        lights.append(EffectLight(s, np.zeros((H, W, 3), np.uint8)))
    unlit = [k for k in range(N) if k not in lit]
    ClassicalEffectSeparator()._fills_are_no_light(frames, masks, lights, set(), unlit)
    for k in lit:
        assert (lights[k].strength[shirt] == 0.5).all(), k
    for k in range(5, 8):
        assert (lights[k].strength[70:90, 140:180] == 0).all(), k
