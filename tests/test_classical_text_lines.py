"""Burnt-in text: a row of thin outlined light pieces is a subtitle line only when they stand in line."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.text import text_mask

# Thin light strokes with a dark rim, eight of them in a row across the bottom band: a white shirt's
# creases and buttonholes under a character's arms look like this (One Piece, the Coby shot).
_CREASES = [((300, 420), (306, 452)), ((326, 436), (344, 444)), ((356, 414), (360, 428)),
            ((378, 440), (400, 458)), ((410, 424), (416, 446)), ((430, 448), (452, 452)),
            ((464, 418), (468, 440)), ((480, 432), (502, 456))]


def _frame() -> np.ndarray:
    return np.full((480, 640, 3), (60, 70, 150), np.uint8)  # a dark blue coat


def _strokes(lines: list[tuple[tuple[int, int], tuple[int, int]]]) -> np.ndarray:
    img = _frame()
    for a, b in lines:
        cv2.line(img, a, b, (10, 10, 10), 8, cv2.LINE_AA)  # the line art around each crease
    for a, b in lines:
        cv2.line(img, a, b, (245, 245, 245), 3, cv2.LINE_AA)
    return img


def test_scattered_light_pieces_in_a_row_are_no_text() -> None:
    # Tops and bottoms at every level: a picture's pieces, not glyphs on one baseline.
    assert not text_mask(_strokes(_CREASES)).any()


def test_the_same_pieces_standing_in_line_are_text() -> None:
    # The same strokes moved to share their tops and bottoms (one line of glyphs) are a subtitle line.
    level = [((a[0], 430), (b[0], 452)) for a, b in _CREASES]
    found = text_mask(_strokes(level))
    assert found.sum() > 500 and found[430:452, 300:503].any(axis=0).mean() > 0.8


def test_a_short_line_stays_text() -> None:
    # Two short words (three pieces on the baseline, three under the top) are still a line.
    for font, scale in ((cv2.FONT_HERSHEY_COMPLEX, 0.7), (cv2.FONT_HERSHEY_COMPLEX, 0.9)):
        img = _frame()
        (tw, _), _ = cv2.getTextSize("No.  Why?", font, scale, 2)
        org = ((640 - tw) // 2, 450)
        cv2.putText(img, "No.  Why?", org, font, scale, (0, 0, 0), 6, cv2.LINE_AA)
        cv2.putText(img, "No.  Why?", org, font, scale, (255, 255, 255), 2, cv2.LINE_AA)
        glyphs = img.min(axis=2) > 200
        found = text_mask(img)
        assert (found & glyphs).sum() >= 0.9 * glyphs.sum()


def _label(ground: tuple[int, int, int], box: tuple[int, int] | None) -> np.ndarray:
    """A short word ("Input", five glyphs: too short for a subtitle line) in white over a door, at
    the top; ``box``: the corner of the black box drawn around it, or none (the word over
    ``ground``, a dark area running down the top third of the picture)."""
    img = np.full((404, 480, 3), (200, 150, 70), np.uint8)
    cv2.rectangle(img, (0, 0), (479, 120), ground, -1)
    x, y = box or (0, 0)
    if box is not None:
        cv2.rectangle(img, (x, y), (x + 94, y + 29), (0, 0, 0), -1)
    cv2.putText(img, "Input", (x + 3, y + 23), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def test_a_short_label_in_a_box_is_text_box_and_all() -> None:
    for corner in ((0, 0), (40, 12)):  # in the frame's corner, or clear of its edges
        found = text_mask(_label((200, 150, 70), corner))
        x, y = corner
        box = np.zeros(found.shape, bool)
        box[y : y + 30, x : x + 95] = True
        assert found[box].mean() > 0.95 and not found[~box].any()


def test_a_short_word_with_no_box_of_its_own_is_no_text() -> None:
    # The same glyphs over a dark coat or hair that goes on far around them: no box, no label.
    for ground in ((20, 20, 30), (0, 0, 0)):
        assert not text_mask(_label(ground, None)).any()
