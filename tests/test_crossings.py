"""Ids given back after two characters cross (`models.classical.crossings`): each track keeps the
character whose colours it began with, and nothing else changes."""

from __future__ import annotations

import numpy as np
from flat_figures import track_ids

from models.classical.crossings import unswap_crossings

SKY = (150, 200, 240)
GREEN_HAIR, PINK = (40, 150, 60), (230, 120, 160)
PURPLE_HAIR, BLUE = (120, 60, 200), (60, 90, 200)


def _figure(img: np.ndarray, lab: np.ndarray, oid: int, x: int, hair: tuple[int, int, int],
            body: tuple[int, int, int]) -> None:
    """A standing character 20 px wide at ``x``: hair over a skin face over a body, outlined in dark
    ink, drawn over whatever is there (it is in front)."""
    img[14:80, x : x + 20] = (20, 20, 20)
    lab[14:80, x : x + 20] = oid
    for rows, colour in ((slice(16, 26), hair), (slice(26, 34), (250, 215, 190)), (slice(34, 78), body)):
        img[rows, x + 2 : x + 18] = colour


def _crossing(swapped: bool = True, same_colours: bool = False, n: int = 10) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The green-haired character walks right, the purple-haired one left; they pass each other in the
    middle drawings (the green one in front). ``labels``: what the tracker gave them - the green one 1
    and the purple one 2, exchanged from drawing 5 on when ``swapped``; ``truth``: 1 and 2 throughout.
    ``same_colours``: both are drawn in the green one's colours."""
    images, labels, truth = [], [], []
    for i in range(n):
        img = np.full((100, 200, 3), SKY, np.uint8)
        lab = np.zeros((100, 200), np.uint8)
        true = np.zeros((100, 200), np.uint8)
        xg, xp = 22 + 16 * i, 160 - 16 * i
        hair, body = (GREEN_HAIR, PINK) if same_colours else (PURPLE_HAIR, BLUE)
        _figure(img, true, 2, xp, hair, body)
        _figure(img, true, 1, xg, GREEN_HAIR, PINK)
        lab[:] = true
        if swapped and i >= 5:
            lab = np.where(true == 1, 2, np.where(true == 2, 1, 0)).astype(np.uint8)
        images.append(img)
        labels.append(lab)
        truth.append(true)
    return images, labels, truth


def _consistent(out: list[np.ndarray], truth: list[np.ndarray]) -> bool:
    """Each true character on one id through the shot, the two on different ids."""
    first = {t: int(out[0][truth[0] == t][0]) for t in (1, 2)}
    return first[1] != first[2] and all(
        bool((o[tr == t] == first[t]).all()) for o, tr in zip(out, truth, strict=True) for t in (1, 2))


def test_ids_exchanged_after_a_crossing_are_given_back() -> None:
    images, labels, truth = _crossing()
    assert not _consistent(labels, truth)
    out = unswap_crossings(labels, images, track_ids(labels))
    assert _consistent(out, truth)
    # Only ids move: the foreground, and each drawing's set of ids, are the tracker's.
    for o, lab in zip(out, labels, strict=True):
        assert np.array_equal(o > 0, lab > 0)
        assert set(np.unique(o)) == set(np.unique(lab))


def test_ids_kept_through_a_crossing_stay() -> None:
    images, labels, _ = _crossing(swapped=False)
    out = unswap_crossings(labels, images, track_ids(labels))
    assert all(np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))


def test_two_characters_in_the_same_colours_are_left_as_they_are() -> None:
    images, labels, _ = _crossing(same_colours=True)
    out = unswap_crossings(labels, images, track_ids(labels))
    assert all(np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))


def test_a_lone_character_and_an_empty_shot_are_passed_on() -> None:
    images, labels, _ = _crossing(swapped=False)
    lone = [np.where(lab == 2, 0, lab).astype(np.uint8) for lab in labels]
    out = unswap_crossings(lone, images, track_ids(lone))
    assert all(np.array_equal(o, lab) for o, lab in zip(out, lone, strict=True))
    assert unswap_crossings([], [], []) == []
