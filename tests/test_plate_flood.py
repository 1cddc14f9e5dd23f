"""A source lends the flat background its lagging mask covers (issue #16 section 2, `flat_background`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.classical import inpaint
from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, ClassicalInpainter, flat_background

H, W = 270, 480
WALL, FLOOR, FILL, LINE = (200, 150, 90), (90, 120, 60), (240, 240, 235), (30, 20, 20)


def backdrop() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = WALL
    img[200:] = FLOOR
    cv2.line(img, (0, 200), (W, 200), LINE, 2)
    return img


def character(img: np.ndarray, x: int, y: int, size: int = 50) -> np.ndarray:
    """An outlined square character (flat fill, 2 px line art) at (x, y); its mask."""
    cv2.rectangle(img, (x, y), (x + size, y + size), FILL, -1)
    cv2.rectangle(img, (x, y), (x + size, y + size), LINE, 2)
    mask = np.zeros((H, W), np.uint8)
    cv2.rectangle(mask, (x - 1, y - 1), (x + size + 1, y + size + 1), 1, -1)
    return mask.astype(bool)


def lagging_shot() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Three frames of a still camera; the character stands at x=100 in frames 0 and 2 and at x=300
    in frame 1, whose mask still holds its old place too (stage 1 lagging a quick move). Frames,
    masks, and the background frame 1 alone reveals (inside frame 0's mask)."""
    frames, masks = [], []
    for x in (100, 300, 100):
        img = backdrop()
        masks.append(character(img, x, 100))
        frames.append(img)
    masks[1] = masks[1] | masks[0]
    return frames, masks, masks[0]


def test_a_lagging_mask_lends_the_background_it_covers() -> None:
    frames, masks, revealed = lagging_shot()
    still = [np.eye(3)] * 3
    plate, confidence = ClassicalInpainter().stitch(frames, masks, still, hidden=masks, only=[0])[0]
    wall = np.abs(plate.astype(int) - np.array(WALL)).max(axis=2) <= 2
    # The old place is 52 px wide: its rim up to FLOOD_DEPTH (20 px at 270 rows) is lent, the core not.
    lent = revealed & (confidence == SEEN_ELSEWHERE) & wall
    assert lent.sum() > 0.6 * revealed.sum()
    # Before: frame 1's mask covered it, no frame showed it, the plate invented all of it.
    _, old = ClassicalInpainter(flood=False).stitch(frames, masks, still, hidden=masks, only=[0])[0]
    assert (old[revealed] == INVENTED).all()


def test_a_missed_flat_part_does_not_carry_the_flood_into_the_character(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sleeve (the character's own flat fill, over its line art: no line between it and the body)
    that the mask missed is flat and joined to the mask: the flood must not run from it into the
    body's fill. It starts only from background far from the mask, which the sleeve is not."""
    img = backdrop()
    mask = character(img, 200, 100, 60)
    img[121:140, 258:269] = FILL  # the sleeve, 7 px beyond the mask
    body = np.zeros((H, W), bool)
    body[103:158, 203:256] = True
    got = flat_background(img, mask)
    assert not (got & body).any()
    # The wall between the mask's edge and the line art is not flat (the line is next to it): no
    # background was lent here at all.
    assert not got.any()
    monkeypatch.setattr(inpaint, "FLOOD_FAR", 0)
    assert (flat_background(img, mask) & body).sum() > 500
