"""Lasting light over a character is measured against the frames without light (`effect_far`): an aura
that lives 9 frames of a 20-frame shot is in two of the four near frames the separator's median is
taken from, so over a character the median holds the aura and none of it was found."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.effect_far import far_reference, fine_structure, nearest_unlit, structure_cost
from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 20
LIT = range(5, 14)
PINK = np.array([255, 110, 200], np.float32)


def aura_shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Two still characters side by side over a textured wall: a dark-coated one (outline, stripes, a
    face) and, in front of its right edge, another; in frames 5-13 the front one glows pink and its
    aura (a flame, its texture new in each frame) lies over the coat. Returns the frames, the union masks and the aura's strength per frame."""
    rng = np.random.default_rng(5)
    bg = np.clip(np.array((70, 90, 120), np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    base = bg.copy()
    mask = np.zeros((H, W), bool)
    # The back character: an outlined dark coat with light stripes and a face.
    cv2.rectangle(base, (80, 30), (170, 175), (15, 15, 20), -1)
    cv2.rectangle(base, (83, 33), (167, 172), (60, 55, 70), -1)
    for x in range(95, 165, 14):
        cv2.line(base, (x, 40), (x, 170), (120, 110, 130), 2)
    cv2.circle(base, (125, 55), 16, (15, 15, 20), -1)
    cv2.circle(base, (125, 55), 14, (210, 160, 130), -1)
    mask[30:176, 80:171] = True
    # The front one, a light figure overlapping the coat's right edge.
    front = np.zeros((H, W), np.uint8)
    cv2.ellipse(front, (200, 110), (35, 60), 0, 0, 360, 255, -1)
    base[front > 0] = (15, 15, 20)
    inner = cv2.erode(front, np.ones((5, 5), np.uint8))
    base[inner > 0] = (230, 225, 215)
    cv2.line(base, (185, 90), (215, 130), (15, 15, 20), 2)
    mask |= front > 0
    halo = cv2.GaussianBlur(front.astype(np.float32) / 255.0, (0, 0), 12.0)
    aura = np.clip(1.6 * halo, 0, 1) * (1.0 - 0.8 * front.astype(np.float32) / 255.0) * 0.6
    frames, masks, strengths = [], [], []
    for k in range(N):
        f = base.astype(np.float32)
        light = np.zeros((H, W), np.float32)
        if k in LIT:  # flaring on and off, flickering, a flame's texture redrawn each frame
            env = 0.85 + 0.15 * np.sin(1.7 * k)
            flame = cv2.GaussianBlur(rng.normal(0.0, 1.0, (H, W)).astype(np.float32), (0, 0), 1.5)
            light = env * aura * np.clip(1.0 + 0.8 * flame / flame.std(), 0.3, 1.7)
        frames.append(np.clip(f + light[..., None] * PINK + 0.5, 0, 255).astype(np.uint8))
        masks.append(mask.copy())
        strengths.append(light)
    return frames, masks, strengths


def test_fine_structure_ignores_a_smooth_light() -> None:
    frames, _, _ = aura_shot()
    drawing = frames[0]
    yy, xx = np.mgrid[0:H, 0:W]
    halo = np.exp(-((xx - 200.0) ** 2 + (yy - 110.0) ** 2) / (2 * 40.0**2)).astype(np.float32)
    lit = np.clip(drawing + 0.5 * halo[..., None] * PINK, 0, 255).astype(np.uint8)
    other = np.roll(drawing, 6, axis=1)  # the same drawing 6 px away: another pose
    cost_lit = float(structure_cost(fine_structure(lit), fine_structure(drawing)).mean())
    cost_moved = float(structure_cost(fine_structure(other), fine_structure(drawing)).mean())
    assert cost_lit < 0.2 * cost_moved, (cost_lit, cost_moved)


def test_nearest_unlit_frames_first() -> None:
    assert nearest_unlit(7, [0, 1, 2, 3, 12, 13], 3) == [3, 2, 12]
    assert nearest_unlit(7, [], 3) == []


def test_far_reference_keeps_the_median_without_unlit_frames() -> None:
    frames, _, _ = aura_shot()
    box = (0, H, 0, W)
    drawing = frames[6].copy()
    ref, explain = far_reference(frames, 7, [], box, drawing, [frames[6]])
    assert np.array_equal(ref, drawing) and len(explain) == 1


def test_lasting_aura_over_a_character_is_found() -> None:
    frames, masks, strengths = aura_shot()
    ts = [np.eye(3)] * N
    inner = cv2.erode(masks[0].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    over = [inner & (s >= 0.25) for s in strengths]
    total = sum(int(o.sum()) for o in over)
    assert total > 1500

    def found(lights: list) -> int:
        return sum(int((light.strength[o] >= 0.25).sum()) for light, o in zip(lights, over, strict=True))

    # The near frames' median holds the aura: most of it is missed over the coat.
    without = ClassicalEffectSeparator(far=0).separate_shot_light(frames, masks, ts)
    assert found(without) < 0.4 * total, (found(without), total)
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, ts)
    assert found(lights) > 0.6 * total, (found(lights), total)
    # The frames without the aura stay without light, over the characters or not.
    for k in set(range(N)) - set(LIT):
        assert int((lights[k].strength >= 0.25).sum()) == 0, k
