"""Clean plates do not keep the parts of a character that other frames' masks missed (issue #16 section 2)."""

from __future__ import annotations

import cv2
import numpy as np
from pans import H, W, painted

from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, ClassicalInpainter

SHIRT, ARM = (60, 90, 200), (230, 190, 150)


def still_talker(n: int = 8) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """A still camera on a still character (a body and an arm) whose mask takes the arm in frame 0
    only: frames, masks and the arm's pixels."""
    bg = painted(H, W, 3)
    rng = np.random.default_rng(5)
    frames, masks = [], []
    arm_0 = np.zeros((H, W), bool)
    for i in range(n):
        body = np.zeros((H, W), np.uint8)
        cv2.ellipse(body, (60, 55), (14, 24), 0, 0, 360, 1, -1)
        arm = np.zeros((H, W), np.uint8)
        cv2.rectangle(arm, (74, 45), (92, 53), 1, -1)
        arm &= 1 - body
        img = bg.astype(np.int16)
        img[body > 0] = SHIRT
        img[arm > 0] = ARM
        img += rng.integers(-3, 4, img.shape).astype(np.int16)  # codec noise: equal pixels are never exact
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        masks.append((body | arm).astype(bool) if i == 0 else body.astype(bool))
        if i == 0:
            arm_0 = arm.astype(bool)
    return frames, masks, arm_0


def test_a_missed_arm_is_invented_not_stitched_back() -> None:
    frames, masks, arm = still_talker()
    still = [np.eye(3)] * len(frames)
    plate, confidence = ClassicalInpainter().stitch(frames, masks, still, hidden=masks, only=[0])[0]
    # Every other frame's mask misses the arm: they "see background" there, but show the arm.
    assert (confidence[arm] == INVENTED).mean() > 0.95
    kept = np.abs(plate.astype(int) - np.array(ARM)).max(axis=2) <= 12
    assert kept[arm].mean() < 0.05
    # Without the test (the stitch before) the arm is stitched back as "seen elsewhere".
    old_plate, old_confidence = ClassicalInpainter(same_levels=-1).stitch(frames, masks, still, hidden=masks, only=[0])[0]
    assert (old_confidence[arm] == SEEN_ELSEWHERE).mean() > 0.9
    assert np.abs(old_plate.astype(int) - np.array(ARM)).max(axis=2)[arm].mean() <= 12


def test_background_a_moving_character_reveals_is_still_stitched() -> None:
    """A textured character slides away (right masks this time) from background that happens to be
    its arm's colour: the other frames are no still view of it, so what they reveal is stitched."""
    bg = painted(H, W, 3)
    tex = painted(H, W + 60, 8)  # the character's own texture, moving with it
    place = np.zeros((H, W), np.uint8)
    cv2.rectangle(place, (40, 40), (80, 70), 1, -1)
    frames, masks = [], []
    for i in range(8):
        dx = 4 * i  # every frame still overlaps frame 0's character
        body = np.zeros((H, W), np.uint8)
        cv2.rectangle(body, (40 + dx, 40), (80 + dx, 70), 1, -1)
        img = bg.copy()
        img[place > 0] = ARM  # the background where the character starts is its colour...
        ys, xs = np.nonzero(body)
        img[ys, xs] = tex[ys, xs - dx + 30]
        if i == 0:
            img[place > 0] = ARM  # ...and so is the character there in frame 0
        frames.append(img)
        masks.append(body.astype(bool))
    slide = [np.eye(3)] * len(frames)
    plate, confidence = ClassicalInpainter().stitch(frames, masks, slide, hidden=masks, only=[0])[0]
    revealed = masks[0] & ~masks[1]  # the strip the first move uncovers
    assert (confidence[revealed] == SEEN_ELSEWHERE).mean() > 0.95
    assert np.abs(plate.astype(int) - np.array(ARM)).max(axis=2)[revealed].mean() <= 6
