"""One object holding two characters (`models.classical.shared_objects`): the regions drawn in the other
character's colours go back to that character's track, and nothing else changes."""

from __future__ import annotations

import numpy as np
from flat_figures import BLUE, GREEN_HAIR, PINK, PURPLE_HAIR, SKY, draw_figure

from models.classical.shared_objects import split_shared


def _shot(touch: int = 7, same_colours: bool = False, n: int = 8) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The green-haired character stands still at the left; the purple-haired one walks up to it and
    touches it in drawing ``touch``. ``labels``: what the segmenter gave them - the green one 1 and the
    purple one 2, except in drawing ``touch``, where one object (1) holds both; ``truth``: 1 and 2
    throughout. ``same_colours``: both are drawn in the green one's colours."""
    images, labels, truth = [], [], []
    for i in range(n):
        img = np.full((100, 200, 3), SKY, np.uint8)
        true = np.zeros((100, 200), np.uint8)
        xg = 40
        xp = xg + 24 if i == touch else 150 - 10 * i
        hair, body = (GREEN_HAIR, PINK) if same_colours else (PURPLE_HAIR, BLUE)
        draw_figure(img, true, 1, xg, GREEN_HAIR, PINK)
        draw_figure(img, true, 2, xp, hair, body)
        lab = true.copy()
        if i == touch:
            lab[lab == 2] = 1
        images.append(img)
        labels.append(lab)
        truth.append(true)
    return images, labels, truth


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_two_touching_characters_on_one_object_are_split_by_their_colours() -> None:
    images, labels, truth = _shot()
    assert _iou(labels[7] == 2, truth[7] == 2) == 0.0  # the purple one is on the green one's object there
    out = split_shared(labels, images, [{1, 2} - ({2} if i == 7 else set()) for i in range(8)])
    assert _iou(out[7] == 2, truth[7] == 2) > 0.95  # its hair, body, face and legs all go back to it
    assert _iou(out[7] == 1, truth[7] == 1) > 0.95  # the green one keeps its own, face and legs too
    assert np.array_equal(out[7] > 0, labels[7] > 0)  # nothing becomes background, nothing is added
    for i in range(7):
        assert np.array_equal(out[i], labels[i])  # the drawings where the two are apart are left alone


def test_a_touching_part_in_the_neighbours_colours_goes_to_the_neighbour() -> None:
    images, labels, truth = _shot(touch=7)
    # Drawing 7 with both on screen: the purple one's hair and body are drawn on the green one's object.
    lab = truth[7].copy()
    lab[12:76, 64:88] = 1
    labels[7] = lab
    out = split_shared(labels, images, [{1, 2}] * 8)
    assert _iou(out[7] == 2, truth[7] == 2) > 0.95
    assert _iou(out[7] == 1, truth[7] == 1) > 0.95


def test_characters_drawn_in_the_same_colours_are_left_as_they_are() -> None:
    images, labels, _ = _shot(same_colours=True)
    out = split_shared(labels, images, [{1, 2} - ({2} if i == 7 else set()) for i in range(8)])
    for a, b in zip(out, labels, strict=True):
        assert np.array_equal(a, b)  # no colour tells the two apart: the merged object stays one
