"""No false light on anime without effects: a burnt-in caption that comes and goes is no light (on
onepiece_demo.mp4 its glyphs' edges were a fifth of the effect layer's false pixels)."""

from __future__ import annotations

import numpy as np

from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 12
WALL = (120, 90, 70)


def caption_shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still wall, no characters; a white caption in the lower third in frames 4-7 only."""
    rng = np.random.default_rng(5)
    bg = np.clip(np.array(WALL, np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    frames, masks, text = [], [], []
    for k in range(N):
        f = bg.copy()
        t = np.zeros((H, W), bool)
        if 4 <= k < 8:
            for x in range(100, 220, 12):  # glyphs: white strokes with a dark rim
                t[140:160, x : x + 8] = True
                f[139:161, x - 1 : x + 9] = (20, 20, 20)
                f[140:160, x + 1 : x + 7] = (250, 250, 250)
        frames.append(f)
        masks.append(np.zeros((H, W), bool))
        text.append(t)
    return frames, masks, text


def test_a_caption_is_not_light() -> None:
    frames, masks, text = caption_shot()
    sep = ClassicalEffectSeparator()
    without = sep.separate_shot_light(frames, masks, [np.eye(3)] * N)
    # Without the text masks the caption reads as light (the check that the scene tests anything).
    assert sum(int((without[k].strength >= 0.25).sum()) for k in range(4, 8)) > 200
    lights = sep.separate_shot_light(frames, masks, [np.eye(3)] * N, text=text)
    false = [int((light.strength > 0).sum()) for light in lights]
    assert sum(false) == 0, false
