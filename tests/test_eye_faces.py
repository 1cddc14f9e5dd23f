"""Faces from pairs of eyes (`models.classical.eyes`) where the face cascade is absent (a fresh install):
two characters standing side by side stay two objects, one character stays one."""

from __future__ import annotations

import numpy as np
import pytest
from flat_figures import BLUE, GREEN_HAIR, PINK, PURPLE_HAIR, SKY, draw_figure
from test_classical_segmentation import painted_background

import models.classical.faces as faces
from models.classical.eyes import eye_pair_faces
from models.classical.segmentation import ClassicalSegmenter

IRIS = (60, 140, 230)


def _walk(n: int = 10, pair: bool = True, eyes: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The green-haired character walks right over a painted background, 12 px a drawing, the
    purple-haired one (``pair``) touching it at its right side the whole shot."""
    background = painted_background(100, 200)
    images, truth = [], []
    for i in range(n):
        img, true = background.copy(), np.zeros((100, 200), np.uint8)
        draw_figure(img, true, 1, 10 + 12 * i, GREEN_HAIR, PINK, IRIS if eyes else None)
        if pair:
            draw_figure(img, true, 2, 34 + 12 * i, PURPLE_HAIR, BLUE, IRIS if eyes else None)
        images.append(img)
        truth.append(true)
    return images, truth


@pytest.fixture
def no_cascade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "find_cascade", lambda path=None: None)


def _objects(images: list[np.ndarray]) -> list[np.ndarray]:
    seg = ClassicalSegmenter()
    assert not seg.faces.available
    return [s.labels for s in seg.segment_shot(images)]


def test_each_pair_of_eyes_is_one_face_box_over_its_face() -> None:
    img, true = np.full((100, 200, 3), SKY, np.uint8), np.zeros((100, 200), np.uint8)
    draw_figure(img, true, 1, 40, GREEN_HAIR, PINK, IRIS)
    draw_figure(img, true, 2, 64, PURPLE_HAIR, BLUE, IRIS)
    found = eye_pair_faces(img, true > 0)
    assert len(found) == 2  # one per face, none from an eye of each
    for (x, y, w, h), left in zip(found, (40, 64), strict=True):
        assert abs(x + w / 2 - (left + 12)) <= 1 and 28 <= y + h / 2 <= 40  # centred on the face
    assert eye_pair_faces(img, np.zeros((100, 200), bool)) == []  # only inside the foreground
    plain, true = np.full((100, 200, 3), SKY, np.uint8), np.zeros((100, 200), np.uint8)
    draw_figure(plain, true, 1, 40, GREEN_HAIR, PINK)
    assert eye_pair_faces(plain, true > 0) == []  # a face with no eyes drawn: none


@pytest.mark.usefixtures("no_cascade")
def test_two_characters_side_by_side_are_two_objects_without_the_cascade() -> None:
    images, truth = _walk()
    for labels, true in zip(_objects(images), truth, strict=True):
        for oid in (1, 2):
            ids, counts = np.unique(labels[true == oid], return_counts=True)
            owner = int(ids[np.argmax(counts)])
            assert owner != 0 and counts.max() >= 0.85 * (true == oid).sum()
            assert ((labels == owner) & (true == 3 - oid)).sum() <= 0.1 * (true == 3 - oid).sum()
    # Without the eyes the two are one object: the eyes are what keeps them apart.
    images, truth = _walk(eyes=False)
    for labels, true in zip(_objects(images), truth, strict=True):
        ids = np.unique(labels[true > 0])
        assert len(ids[ids > 0]) == 1


@pytest.mark.usefixtures("no_cascade")
def test_one_character_with_eyes_stays_one_object() -> None:
    images, truth = _walk(pair=False)
    for labels, true in zip(_objects(images), truth, strict=True):
        ids = np.unique(labels[true > 0])
        assert len(ids[ids > 0]) == 1
