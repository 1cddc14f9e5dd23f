"""Two touching characters are divided on the line art between them (`models.classical.touching`)."""

from __future__ import annotations

import numpy as np
from flat_figures import BLUE, GREEN_HAIR, PINK, PURPLE_HAIR, SKY, draw_figure

from models.classical.touching import snap_to_line_art

FILLS = (slice(12, 26), slice(28, 40), slice(42, 76), slice(78, 90))  # a figure's flat fills (`draw_figure`)


def _touching() -> tuple[np.ndarray, np.ndarray]:
    """Character 1 behind at x 10-33, character 2 in front at x 30-53: 2's outline (x 30-31) divides them."""
    img = np.zeros((100, 80, 3), np.uint8)
    img[:] = SKY
    truth = np.zeros((100, 80), np.uint8)
    draw_figure(img, truth, 1, 10, GREEN_HAIR, PINK)
    draw_figure(img, truth, 2, 30, PURPLE_HAIR, BLUE)
    return img, truth


def test_a_sliver_of_the_front_character_goes_back_to_it() -> None:
    img, truth = _touching()
    labels = truth.copy()
    labels[10:92, 30:34] = np.where(truth[10:92, 30:34] > 0, 1, 0)  # the boundary drawn 4 px into character 2
    out = snap_to_line_art(labels, img, {1, 2})
    for rows in FILLS:  # 2's fill beside its outline: its flat regions are 2's
        assert (out[rows, 32:34] == 2).all()
    assert (out[truth == 1] == 1).all()


def test_a_sliver_of_the_back_character_goes_back_to_it() -> None:
    img, truth = _touching()
    labels = truth.copy()
    labels[10:92, 27:30] = np.where(truth[10:92, 27:30] > 0, 2, 0)  # the boundary drawn 3 px into character 1
    out = snap_to_line_art(labels, img, {1, 2})
    for rows in FILLS:  # 1's hair, face, body and legs
        assert (out[rows, 27:30] == 1).all()
    assert (out[truth == 2] == 2).all()


def test_the_background_side_and_other_objects_are_left_alone() -> None:
    img, truth = _touching()
    labels = truth.copy()
    labels[10:92, 30:34] = np.where(truth[10:92, 30:34] > 0, 1, 0)
    labels[50:60, 54:58] = 2  # background beside character 2 on its object: not this rule's boundary
    assert np.array_equal(snap_to_line_art(labels, img, {1}), labels)  # one character: no boundary to move
    out = snap_to_line_art(labels, img, {1, 2})
    assert (out[50:60, 54:58] == 2).all() and (out[truth == 0] == labels[truth == 0]).all()
