"""Weight-free effect separation (the effects stage) and clean plates (the inpaint stage) on synthetic shots."""

from __future__ import annotations

import cv2
import numpy as np
from pans import GLOW_LUMA, H, W, painted, shot

from models.classical.camera import estimate_camera
from models.classical.effect_time import suppress_persistent
from models.classical.effects import (
    ClassicalEffectSeparator,
    additive_strength,
    flash_strength,
)
from models.classical.inpaint import ClassicalInpainter
from models.classical.plate import build_plate, warp_to_frame


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64))[where] ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def test_additive_strength_sees_light_not_shadow() -> None:
    bg = painted(40, 40, 1)
    lit = np.clip(bg.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    dark = np.clip(bg.astype(np.int16) - 60, 0, 255).astype(np.uint8)
    assert additive_strength(lit, bg).mean() > 0.9
    assert additive_strength(dark, bg).max() == 0.0


def test_effect_separation_over_a_shot() -> None:
    frames, masks, _, lights = shot()
    maps = ClassicalEffectSeparator().separate_shot(frames, masks)
    assert len(maps) == len(frames) and maps[0].dtype == np.float32
    assert all(float(m.min()) >= 0.0 and float(m.max()) <= 1.0 for m in maps)
    for i in (4, 5, 6):  # the strength is the light's alpha: added luminance over the colour's own
        assert iou(maps[i] > 0.5, lights[i] > 0.5 * GLOW_LUMA) >= 0.5
    for i in (0, 2, 9):  # no effect in these frames
        assert (maps[i] > 0.5).sum() < 20
    # Light over a character is measured against the same drawing in other frames; none falls on
    # this one, so (almost) nothing may be found there.
    assert all((m[k] > 0.25).sum() <= 0.01 * k.sum() for m, k in zip(maps, masks, strict=True))


def test_effect_separation_with_a_given_plate() -> None:
    frames, masks, _, lights = shot()
    ts = estimate_camera(frames)
    plate, _ = build_plate(frames, ts, masks, scale=1.0)
    ref = warp_to_frame(plate, ts[5], frames[5].shape, 1.0)
    strength = ClassicalEffectSeparator().separate(frames[5], masks[5], ref)
    assert iou(strength > 0.5, lights[5] > 0.5 * GLOW_LUMA) >= 0.5


def with_outlines(img: np.ndarray) -> np.ndarray:
    """Dark line art, as every anime frame has."""
    out = img.copy()
    cv2.rectangle(out, (5, 5), (40, 60), (20, 15, 25), 2)
    return out


def test_flash_is_the_whole_frame() -> None:
    frame = with_outlines(painted(H, W, 3))
    assert flash_strength(frame) == 0.0
    for f in (0.5, 0.95):
        lit = (frame + f * (255.0 - frame)).astype(np.uint8)
        assert abs(flash_strength(lit) - f) < 0.1
        m = ClassicalEffectSeparator().separate(lit, np.zeros((H, W), bool), frame)
        assert float(m.min()) > 0.4
    # A pale, low-contrast picture without a flash is not a flash.
    pale = np.clip(frame.astype(np.float32) * 0.4 + 120, 0, 255).astype(np.uint8)
    assert flash_strength(with_outlines(pale)) == 0.0


def test_thin_streaks_without_a_plate() -> None:
    bg = cv2.GaussianBlur(painted(H, W, 4), (0, 0), 3)  # a soft painted background
    frame = bg.astype(np.float32)
    streaks = np.zeros((H, W), np.float32)
    for y in (20, 45, 70):
        cv2.line(streaks, (10, y), (150, y + 8), 1.0, 2, cv2.LINE_AA)
    frame += streaks[..., None] * np.array([255, 240, 220], np.float32)
    frame8 = np.clip(frame, 0, 255).astype(np.uint8)
    m = ClassicalEffectSeparator().separate(frame8, np.zeros((H, W), bool), None)
    assert iou(m > 0.25, streaks > 0.5) >= 0.5
    assert (ClassicalEffectSeparator().separate(bg.astype(np.uint8), np.zeros((H, W), bool), None) > 0.25).sum() < 20


def test_aura_at_the_edge_with_a_hole_filled_plate() -> None:
    """The inpaint stage's plate is the frame outside the grown character hole: the separator
    must use it in the hole's ring (an aura hugging the outline) and not read 'no effect' elsewhere."""
    frames, masks, bgs, _ = shot(glow_frames=())
    i = 5
    mask = masks[i]
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    aura = np.where(mask, 0.0, np.exp(-dist / 3.0)).astype(np.float32)  # strongest at the edge
    frame = np.clip(frames[i] + aura[..., None] * np.array([150, 220, 255], np.float32), 0, 255).astype(np.uint8)
    hole = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    plate = np.where(hole[..., None], bgs[i], frame)
    s = ClassicalEffectSeparator().separate(frame, mask, plate)
    ring = hole & ~mask & (aura > 0.5)
    assert float(s[ring].mean()) > 0.4  # before: 0 (the ring was excluded as fringe)
    assert not s[mask].any()
    far = cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert (s[far] > 0.25).sum() < 20


def test_persistent_bright_regions_are_background() -> None:
    blob = np.zeros((H, W), np.float32)
    blob[10:30, 10:30] = 1.0
    short = np.zeros((H, W), np.float32)
    short[50:70, 100:120] = 1.0
    maps = [blob + (short if i in (3, 4) else 0) for i in range(10)]
    out = suppress_persistent(maps)
    assert out[0][20, 20] < 0.1  # lit in every frame: a lamp of the background
    assert out[3][60, 110] > 0.9  # lit in 2 of 10 frames: an effect
    assert len(suppress_persistent(maps[:2])) == 2  # too short to judge: unchanged


def test_clean_plates_fill_from_other_frames() -> None:
    frames, masks, bgs, _ = shot(glow_frames=())
    plates = ClassicalInpainter().clean_plates(frames, masks)
    assert len(plates) == len(frames) and plates[0].dtype == np.uint8
    for p, m, b in zip(plates, masks, bgs, strict=True):
        assert psnr(p, b, m) >= 25.0
    far = cv2.dilate(masks[3].astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    assert np.array_equal(plates[3][far], frames[3][far])  # untouched away from the hole


def test_clean_plates_static_single_and_empty() -> None:
    frames, masks, _, _ = shot(static=True, glow_frames=())
    plates = ClassicalInpainter().clean_plates(frames, masks)
    # Nothing ever shows this background: spatial inpainting must at least remove the character.
    assert np.abs(plates[0].astype(int) - frames[0].astype(int))[masks[0]].mean() > 30
    one = ClassicalInpainter().clean_plates(frames[:1], masks[:1])
    assert len(one) == 1 and one[0].shape == frames[0].shape
    nohole = ClassicalInpainter().clean_plates(frames[:3], [np.zeros((H, W), bool)] * 3)
    assert all(np.array_equal(a, b) for a, b in zip(nohole, frames[:3], strict=True))
    assert ClassicalInpainter().clean_plates([], []) == []



def test_flash_frames_do_not_outvote_the_background() -> None:
    """Three frames of a held streak and three flash frames in an eleven-frame shot: the flashes
    are no view of the background, so the streak's frames are still measured against it."""
    rng = np.random.default_rng(11)
    bg = cv2.GaussianBlur(rng.integers(30, 110, (H, W, 3), dtype=np.uint8), (0, 0), 2)
    streak = np.zeros((H, W), bool)
    streak[40:50, 20:140] = True
    frames = []
    for i in range(11):
        f = bg.astype(np.float32)
        if i < 3:
            f[streak] += 150.0
        elif i < 6:
            f += 0.9 * (255.0 - f)
        frames.append(np.clip(f + 0.5, 0, 255).astype(np.uint8))
    no_chars = [np.zeros((H, W), bool)] * 11
    maps = ClassicalEffectSeparator().separate_shot(frames, no_chars)
    assert iou(maps[1] >= 0.25, streak) >= 0.7
    assert not (maps[8] >= 0.25).any()
