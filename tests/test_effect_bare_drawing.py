"""Light that lasts over a character (another character's glow, a burst of sparks) is in the nearest
frames too, so their median takes it for the drawing; the frames of the shot without light show the
drawing bare, and a lit frame is measured against them."""

from __future__ import annotations

import numpy as np

from models.classical.effect_time import unlit_picks
from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 16
LIT = range(4, 11)  # the light's life: frames 4..10 of 16 (the plate, a median of all 16, has none)
GLOW = (120, 255, 180)


def shot() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """A still camera over a textured background; a still, textured character; a soft disc of light
    on the character's right edge, half over it and half over the background, through ``LIT``."""
    rng = np.random.default_rng(5)
    bg = np.clip(np.array((90, 70, 110), np.float32) + rng.normal(0, 4, (H, W, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((H, W), bool)
    mask[30:170, 80:180] = True
    body = np.clip(np.array((70, 90, 60), np.float32) + rng.normal(0, 4, (H, W, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    disc = np.clip(1.0 - np.hypot(xx - 180, yy - 100) / 40.0, 0.0, 1.0) * 1.4
    disc = np.clip(disc, 0.0, 0.8).astype(np.float32)
    frames, masks = [], []
    for k in range(N):
        f = np.where(mask[..., None], body, bg).astype(np.float32)
        if k in LIT:
            f += disc[..., None] * np.array(GLOW, np.float32)
        frames.append(np.clip(f + 0.5, 0, 255).astype(np.uint8))
        masks.append(mask)
    return frames, masks, (disc >= 0.3) & mask


def test_lasting_light_over_a_character_is_found() -> None:
    frames, masks, over = shot()
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, [np.eye(3)] * N)
    # Frame 7's nearest frames (1, 4, 10, 13) are half lit: their median held the light, and none of
    # it was found over the character (at most 1.4 % in frames 4-10).
    for k in (6, 7, 8):
        assert float((lights[k].strength[over] >= 0.25).mean()) > 0.8, k
    # The frames without light stay without.
    for k in (0, 1, 2, 13, 14, 15):
        assert int((lights[k].strength >= 0.25).sum()) == 0, k


def test_unlit_picks_are_the_nearest_frames_without_light() -> None:
    maps = [np.full((4, 4), 0.5 if k in LIT else 0.0, np.float32) for k in range(N)]
    picks = unlit_picks(maps, strays=[14])
    # Frames 3..11 hold or border the light; 14 is a stray (a flash).
    assert picks[7] == [1, 2, 12, 13]
    assert picks[9] == [12, 13, 15]  # 2 is 7 frames away
    assert sorted(picks) == list(range(3, 12))  # only frames with or beside light are measured again
