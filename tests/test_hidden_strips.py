"""A hidden character's strip that the tracker gave an id of its own goes to that character
(`models.classical.hidden_strips`), and nothing else does."""

from __future__ import annotations

import numpy as np

from models.classical.hidden_strips import join_hidden_strips

SKY = (150, 200, 240)
GREEN_HAIR, PINK = (40, 150, 60), (230, 120, 160)  # the front character
PURPLE_HAIR, BLUE = (120, 60, 200), (60, 90, 200)  # the one behind it


def _figure(img: np.ndarray, lab: np.ndarray, oid: int, x: int, hair: tuple[int, int, int],
            body: tuple[int, int, int], cols: tuple[int, int] | None = None) -> None:
    """A standing character 20 px wide at ``x``: hair over a skin face over a body, outlined in dark
    ink; only its columns ``cols`` show (the rest is behind another character)."""
    x0, x1 = cols if cols is not None else (x, x + 20)
    part = np.zeros(img.shape[:2], bool)
    part[:, x0:x1] = True
    shape = np.zeros(img.shape[:2], bool)
    shape[14:80, x : x + 20] = True
    ink = shape & part
    img[ink] = (20, 20, 20)
    lab[ink] = oid
    fills = [(slice(16, 26), hair), (slice(26, 34), (250, 215, 190)), (slice(34, 78), body)]
    for rows, colour in fills:
        inner = np.zeros(img.shape[:2], bool)
        inner[rows, x + 2 : x + 18] = True
        img[inner & part] = colour


def _shot(hidden_visible: bool = False, n: int = 8) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The green-haired character (1) stands still in front; the purple-haired one (2) stands beside
    it, then (drawings 6, 7) goes behind it: its track is a sliver on the front one's right, and a
    strip of it on the front one's left is a new track (3). A red box (4, a prop) shows in drawings
    6 and 7. ``hidden_visible``: track 2 stays whole beside the front one in drawings 6 and 7 (the strip
    and the box show all the same)."""
    images, labels = [], []
    for i in range(n):
        img = np.full((100, 180, 3), SKY, np.uint8)
        lab = np.zeros((100, 180), np.uint8)
        if i < 6 or hidden_visible:
            _figure(img, lab, 2, 110 + (i % 2), PURPLE_HAIR, BLUE)
        else:
            _figure(img, lab, 2, 70, PURPLE_HAIR, BLUE, cols=(86, 90))  # a sliver on the right
        if i >= 6:
            _figure(img, lab, 3, 46, PURPLE_HAIR, BLUE, cols=(50, 60))  # a strip on the left
            img[60:78, 150:166] = (220, 40, 40)
            lab[60:78, 150:166] = 4
        _figure(img, lab, 1, 60, GREEN_HAIR, PINK)
        images.append(img)
        labels.append(lab)
    return images, labels


def _characters(labels: list[np.ndarray]) -> list[set[int]]:
    return [{int(v) for v in np.unique(lab) if v} for lab in labels]


def test_the_strip_of_a_character_hidden_behind_another_joins_that_character() -> None:
    images, labels = _shot()
    assert (labels[6] == 3).sum() > 0 and (labels[6] == 2).sum() < 0.6 * (labels[0] == 2).sum()
    out = join_hidden_strips(labels, images, _characters(labels))
    for before, after in zip(labels, out, strict=True):
        assert ((before > 0) == (after > 0)).all()  # nothing becomes background
        assert (after[before == 3] == 2).all()  # the strip is the hidden character's
        assert (after[before == 1] == 1).all()  # the front one keeps its own id
        assert (after[before == 4] == 4).all()  # a prop in nobody's colours stays itself
        assert (after[before == 2] == 2).all()


def test_a_strip_beside_its_characters_fully_visible_track_stays_apart() -> None:
    images, labels = _shot(hidden_visible=True)
    out = join_hidden_strips(labels, images, _characters(labels))
    for before, after in zip(labels, out, strict=True):
        assert (after == before).all()


def test_a_piece_in_the_front_characters_colours_does_not_join_the_hidden_one() -> None:
    images, labels = _shot()
    for img in images[6:]:  # the strip now has the front character's colours
        strip = np.zeros(img.shape[:2], bool)
        strip[:, 50:60] = True
        img[strip & (np.all(img == PURPLE_HAIR, axis=2))] = GREEN_HAIR
        img[strip & (np.all(img == BLUE, axis=2))] = PINK
    out = join_hidden_strips(labels, images, _characters(labels))
    for before, after in zip(labels, out, strict=True):
        assert (after[before == 3] != 2).all()
