"""A part of a character that the shot's other drawings hold is put back where a few lost it."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.held_parts import restore_held_parts

H, W = 120, 160


def _drawing(dx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A head (skin disc) with a hat (yellow cap) on top, outlined in black, over a grey-blue wall
    with a darker stripe; moved ``dx`` px. Returns the picture, the head's mask and the hat's."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = (150, 160, 190)
    img[20:26, :] = (110, 120, 150)
    head = np.zeros((H, W), np.uint8)
    cv2.circle(head, (70 + dx, 75), 28, 1, -1)
    hat = np.zeros((H, W), np.uint8)
    cv2.ellipse(hat, (70 + dx, 50), (36, 18), 0, 180, 360, 1, -1)
    cv2.rectangle(hat, (34 + dx, 48), (106 + dx, 54), 1, -1)
    img[head > 0] = (230, 180, 140)
    img[hat > 0] = (200, 160, 50)
    for m in (head, hat):
        cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, cs, -1, (0, 0, 0), 2)
    outline = cv2.dilate((head | hat), np.ones((3, 3), np.uint8)) > 0
    return img, outline & ~(hat > 0), hat > 0


def _shot(lose: set[int], n: int = 8) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    images, labels, hats = [], [], []
    for i in range(n):
        img, head, hat = _drawing(2 * i)
        lab = np.zeros((H, W), np.uint8)
        lab[head | (hat & (i not in lose))] = 1
        images.append(img)
        labels.append(lab)
        hats.append(hat)
    return images, labels, hats


def _restore(images: list[np.ndarray], labels: list[np.ndarray]) -> list[np.ndarray]:
    return restore_held_parts(labels, images, lambda j, i: np.eye(3)[:2], [{1}] * len(labels), search=12)


def test_a_hat_the_other_drawings_hold_is_put_back_where_two_lost_it() -> None:
    images, labels, hats = _shot(lose={3, 4})
    out = _restore(images, labels)
    for i in (3, 4):
        assert float((labels[i][hats[i]] == 1).mean()) < 0.1
        assert float((out[i][hats[i]] == 1).mean()) > 0.9
    for i in (0, 1, 2, 5, 6, 7):  # the drawings that held it are unchanged
        assert np.array_equal(out[i], labels[i])


def test_background_is_not_taken_and_a_part_most_drawings_lack_stays_out() -> None:
    images, labels, hats = _shot(lose={0, 1, 2, 3, 4, 5})  # only two drawings hold the hat
    out = _restore(images, labels)
    for i in range(8):
        assert float((out[i][hats[i]] == 1).mean()) < 0.1 or i in (6, 7)
        # No wall pixel joined the character.
        wall = ~(cv2.dilate((labels[i] > 0).astype(np.uint8) | hats[i].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
        assert not (out[i][wall] == 1).any()


def test_a_moving_character_keeps_out_what_the_plate_calls_background() -> None:
    images, labels, hats = _shot(lose={3})
    background = [np.zeros((H, W), bool) for _ in labels]
    background[3] = hats[3].copy()
    out = restore_held_parts(labels, images, lambda j, i: np.eye(3)[:2], [{1}] * 8, search=12,
                             background=background, still=set())
    assert float((out[3][hats[3]] == 1).mean()) < 0.1
    still = restore_held_parts(labels, images, lambda j, i: np.eye(3)[:2], [{1}] * 8, search=12,
                               background=background, still={1})
    assert float((still[3][hats[3]] == 1).mean()) > 0.9
