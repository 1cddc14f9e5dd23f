"""The band round a character that the effect plate keeps out (so that an aura is not burnt into it)
is known from the frames that show it: a thin bright background stripe there is no light."""

from __future__ import annotations

import numpy as np

from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 12
ORANGE = (170, 110, 60)
STRIPE = slice(102, 104)  # a white collar, 2 px wide, just right of where the character starts


def shot() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A still camera; a dark character whose right edge walks 1 px a frame from x = 96 over the
    stripe: it is always within the plate's band (8 px) of the character, so the plate never sees
    it, but the first frames show it more than 3 px away from the character."""
    rng = np.random.default_rng(3)
    bg = np.clip(np.array(ORANGE, np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    bg[30:150, STRIPE] = 255
    frames, masks = [], []
    for k in range(N):
        f = bg.copy()
        m = np.zeros((H, W), bool)
        m[20:170, 40 : 96 + k] = True
        f[m] = (40, 70, 40)
        f[20:170, 94 + k : 96 + k] = (10, 10, 10)  # the outline along its edge
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_a_bright_stripe_in_the_unseen_band_is_not_light() -> None:
    frames, masks = shot()
    # A spark far from the character in one frame shows that the separator finds light at all.
    yy, xx = np.mgrid[0:H, 0:W]
    spark = ((xx - 250) ** 2 + (yy - 90) ** 2) <= 8**2
    frames[8] = np.clip(frames[8] + 0.8 * spark[..., None] * np.array([255, 230, 160], np.float32), 0, 255).astype(
        np.uint8)
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, [np.eye(3)] * N)
    assert float((lights[8].strength[spark] >= 0.25).mean()) > 0.8
    false = [int((lights[k].strength[30:150, 96:110] >= 0.25).sum()) for k in range(N)]
    # The frame's own estimate (a wide median) had no stripe: ~240 px of false light a frame where
    # the stripe is seen.
    assert sum(false) == 0, false
