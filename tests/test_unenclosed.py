"""Background a plate never saw (between two legs, beside a head) is cut from the segment stage's mask."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.static import unenclosed

GROUND = (150, 120, 90)
SKY = (90, 140, 200)


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two outlined characters on sky and ground; the mask takes them and the ground between them."""
    img = np.zeros((120, 200, 3), np.uint8)
    img[:70] = SKY
    img[70:] = GROUND
    chars = np.zeros((120, 200), np.uint8)
    for cx, colour in ((80, (230, 190, 160)), (120, (200, 40, 50))):
        cv2.ellipse(img, (cx, 60), (14, 40), 0, 0, 360, colour, -1)
        cv2.ellipse(img, (cx, 60), (14, 40), 0, 0, 360, (20, 20, 20), 2)  # the line art
        cv2.ellipse(chars, (cx, 60), (15, 41), 0, 0, 360, 1, -1)
    fg = chars.copy()
    fg[30:101, 80:121] = 1  # the hull between them: sky and ground the plate never saw
    return img, fg, chars.astype(bool)


def test_background_between_characters_is_cut_and_characters_kept() -> None:
    img, fg, chars = _scene()
    cut = unenclosed(fg, img)
    between = (fg > 0) & ~chars
    assert cut[between].mean() > 0.6  # the ground and sky between them (not the lines bordering them)
    assert cut[chars].mean() < 0.05  # each character's own flat regions stay


def test_a_character_coloured_like_nothing_around_it_is_kept_whole() -> None:
    img, _, chars = _scene()
    cut = unenclosed(chars.astype(np.uint8), img)
    assert not cut.any()
