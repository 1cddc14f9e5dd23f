"""A character's own white fills, redrawn, are no light (onepiece_demo.mp4: Luffy's teeth in frame 130, the
last speck of its effects layer); a spark drawn over the same character still is."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.effect_highlights import drawn_fills
from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 12
WALL = (70, 60, 90)
SKIN = (235, 190, 160)
SHIRT = (60, 80, 160)
INK = (25, 20, 20)
TEETH = (242, 242, 236)  # near-white, unclipped, as a compressed video's white is
MOUTH = (120, 30, 40)
IRIS = (50, 35, 70)
SPARK = (255, 200, 80)
OPEN = (2, 6, 10)
SPARKS = (4, 5)  # the drawings with the mouth wide open and the glints moved: their neighbours show neither


def character(frame: np.ndarray, open_mouth: bool) -> np.ndarray:
    """A head over a shirt, outlined, with a mouth showing teeth and two eyes with a glint, drawn into
    ``frame`` in place; its mask."""
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (160, 70), (50, 45), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (95, 105), (225, 179), 1, -1)
    frame[mask > 0] = INK
    inside = cv2.erode(mask, np.ones((5, 5), np.uint8))
    shirt = np.zeros_like(inside)
    shirt[110:] = 1
    frame[(inside > 0) & (shirt == 0)] = SKIN
    frame[(inside > 0) & (shirt > 0)] = SHIRT
    # The mouth: dark inside, the upper teeth a white band, 4 px taller when it is wide open.
    cv2.rectangle(frame, (138, 84), (182, 100), INK, -1)
    frame[86:99, 140:181] = MOUTH
    frame[86 : 94 if open_mouth else 90, 140:181] = TEETH
    # The eyes: a dark iris with a white glint, the glint drawn 3 px further right when the mouth opens.
    shift = 3 if open_mouth else 0
    for x in (140, 180):
        cv2.circle(frame, (x, 60), 9, IRIS, -1)
        frame[55:60, x - 4 + shift : x + 1 + shift] = TEETH
    return mask > 0


def spark(k: int) -> np.ndarray:
    """A spark's strength in frame ``k`` (frames 4-5): a short bright line with a soft halo, crossing the
    shirt and moving down 20 px a frame."""
    lines = np.zeros((H, W), np.uint8)
    if k in SPARKS:
        y = 125 + 20 * (k - SPARKS[0])
        cv2.line(lines, (110, y), (170, y + 12), 255, 2, cv2.LINE_AA)
    core = lines.astype(np.float32) / 255.0
    return np.clip(core + 1.2 * cv2.GaussianBlur(core, (0, 0), 3.0), 0.0, 1.0)


def shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still character over a still wall: frames, exact masks, the spark's true strength."""
    rng = np.random.default_rng(3)
    wall = np.clip(np.array(WALL, np.float32) + rng.normal(0, 2, (H, W, 3)), 0, 255).astype(np.uint8)
    frames, masks, sparks = [], [], []
    for k in range(N):
        f = wall.copy()
        masks.append(character(f, k in OPEN))
        s = spark(k)
        f = np.clip(f.astype(np.float32) + s[..., None] * np.array(SPARK, np.float32) + 0.5, 0, 255).astype(np.uint8)
        frames.append(f)
        sparks.append(s)
    return frames, masks, sparks


def redrawn() -> np.ndarray:
    """Where an open-mouth drawing shows white that the others do not: the taller teeth and the moved glints."""
    a, b = np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 3), np.uint8)
    character(a, False)
    character(b, True)
    white = (b == TEETH).all(axis=2) & ~(a == TEETH).all(axis=2)
    return cv2.dilate(white.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def test_redrawn_teeth_and_glints_are_no_light_but_a_spark_over_the_character_is() -> None:
    frames, masks, sparks = shot()
    near = redrawn()
    off = ClassicalEffectSeparator(highlight_tol=0).separate_shot_light(frames, masks, [np.eye(3)] * N)
    # Without the rule the new white reads as light (the check that the scene tests anything).
    assert sum(int((off[k].strength[near] >= 0.25).sum()) for k in OPEN) > 150
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, [np.eye(3)] * N)
    false = [int((lights[k].strength[near] > 0).sum()) for k in OPEN]
    assert sum(false) == 0, false
    # The spark over the character: what was found without the rule is still found.
    for k in SPARKS:
        true = sparks[k] >= 0.25
        found = int((lights[k].strength[true] >= 0.25).sum())
        assert found >= 0.8 * int(true.sum()), (k, found, int(true.sum()))
        assert found == int((off[k].strength[true] >= 0.25).sum())


def test_a_soft_edged_light_in_its_own_colour_is_kept() -> None:
    """A faint streak whose every pixel is within the tolerance of the unlit fill beside it, with a
    fading rim: the soft edge alone keeps it light (the drawn-edge test off)."""
    s = np.zeros((60, 60), np.float32)
    s[28:30, 10:50] = 0.3
    s[[27, 30], 10:50] = 0.08  # the rim: a third of the streak's strength over 2 px
    image = np.clip(np.array(SKIN, np.float32) + s[..., None] * 30.0 + 0.5, 0, 255).astype(np.uint8)
    mask = np.ones((60, 60), bool)
    assert not drawn_fills(image, s, mask, edge=0.0).any()
    s[[27, 30], 10:50] = 0.0  # a hard edge: a fill
    assert drawn_fills(image, s, mask, edge=0.0).any()


def test_light_over_clipped_white_is_not_taken_for_the_white_fill_beside_it() -> None:
    """A hard-edged light group over a white coat (clipped) beside the unlit coat, with a dark seam:
    light and fill look the same there, and the light stays (101's sparks over a white coat)."""
    image = np.full((60, 60, 3), 252, np.uint8)
    image[:, 40:] = INK  # a drawn edge beside it
    s = np.zeros((60, 60), np.float32)
    s[20:40, 30:40] = 0.6
    mask = np.ones((60, 60), bool)
    assert not drawn_fills(image, s, mask).any()
    dull = image.copy()
    dull[:, :40] = 240  # the same scene unclipped: a white fill redrawn
    assert drawn_fills(dull, s, mask).any()
