"""A part of a character that some drawings' masks miss and others hold is not stitched into the
plate from the drawings that missed it (issue #16 section 2; onepiece_demo.mp4's hat)."""

from __future__ import annotations

import cv2
import numpy as np
from pans import H, W, painted

from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, ClassicalInpainter

HAT, FACE, OTHER_FACE = (180, 140, 40), (230, 190, 150), (200, 120, 120)


def hat_shot(n: int = 8, missed: int = 3) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """A still camera on a head with a hat; the first ``missed`` drawings (a different face, so no
    still view of the later ones) have masks without the hat, the later ones hold it."""
    bg = painted(H, W, 3)
    rng = np.random.default_rng(7)
    head = np.zeros((H, W), np.uint8)
    cv2.circle(head, (80, 70), 22, 1, -1)
    hat = np.zeros((H, W), np.uint8)
    cv2.rectangle(hat, (50, 22), (110, 50), 1, -1)
    hat &= 1 - head
    frames, masks = [], []
    for i in range(n):
        img = bg.astype(np.int16)
        img[head > 0] = OTHER_FACE if i < missed else FACE
        img[hat > 0] = HAT
        img += rng.integers(-2, 3, img.shape).astype(np.int16)  # codec noise
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        masks.append(head.astype(bool) if i < missed else (head | hat).astype(bool))
    return frames, masks, hat.astype(bool)


def test_a_hat_some_masks_miss_is_invented_not_stitched() -> None:
    frames, masks, hat = hat_shot()
    still = [np.eye(3)] * len(frames)
    target = len(frames) - 1
    _, confidence = ClassicalInpainter().stitch(frames, masks, still, hidden=masks, only=[target])[0]
    # Frames 0-2 "see background" on the hat but show the hat the other masks hold there.
    inner = cv2.erode(hat.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert (confidence[inner] == INVENTED).mean() > 0.95
    # Without the rule (the stitch before) the hat is stitched back as "seen elsewhere".
    old_plate, old_confidence = ClassicalInpainter(missed_parts=False).stitch(
        frames, masks, still, hidden=masks, only=[target])[0]
    assert (old_confidence[inner] == SEEN_ELSEWHERE).mean() > 0.95
    assert np.abs(old_plate.astype(int) - np.array(HAT)).max(axis=2)[inner].mean() <= 12


def test_masks_that_miss_nothing_give_the_same_plate() -> None:
    """Every mask holds the hat: the rule takes nothing from any source, the plate is the old one."""
    frames, masks, _ = hat_shot(missed=0)
    still = [np.eye(3)] * len(frames)
    new = ClassicalInpainter().stitch(frames, masks, still, hidden=masks, only=[0])[0]
    old = ClassicalInpainter(missed_parts=False).stitch(frames, masks, still, hidden=masks, only=[0])[0]
    assert np.array_equal(new[0], old[0]) and np.array_equal(new[1], old[1])
