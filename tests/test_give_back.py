"""Passing pieces given back to the character whose colours they share (`models.classical.give_back`)."""

from __future__ import annotations

import numpy as np

from models.classical.give_back import give_back_pieces
from models.classical.grouping import FrameTracks

WALL, HAIR, SKIN, SHIRT = (120, 160, 90), (200, 40, 40), (250, 210, 180), (230, 120, 30)
BACK_HAIR, BACK_SHIRT, THIRD = (130, 60, 170), (40, 70, 200), (20, 20, 20)


def _shot() -> tuple[list[FrameTracks], list[list[tuple[int, int, int, int]]]]:
    """Six frames: a front character (track 1, its face detected), a character behind it on its right
    (track 2, no face found, there throughout); in frame 2 a strip of the one behind shows on the
    front one's left as a track of its own (3), touching the front one only; in frame 3 a strip of
    wall is a track (4); in frame 4 a dark stranger passes (5, in a shirt like the front one's); in frame 1 a second face shows (6)."""
    frames, faces = [], []
    for i in range(6):
        img = np.full((60, 90, 3), WALL, np.uint8)
        lab = np.zeros((60, 90), np.uint8)
        lab[10:60, 30:45] = 1
        img[10:22, 30:45], img[22:32, 30:45], img[32:60, 30:45] = HAIR, SKIN, SHIRT
        lab[8:60, 46:56] = 2
        img[8:24, 46:56], img[24:60, 46:56] = BACK_HAIR, BACK_SHIRT
        found = [(32, 18, 11, 11)]
        if i == 2:
            lab[8:60, 22:30] = 3
            img[8:24, 22:30], img[24:60, 22:30] = BACK_HAIR, BACK_SHIRT
        if i == 3:
            lab[30:50, 5:20] = 4  # wall the evidence took for a piece: its colours are no character's
        if i == 4:
            lab[10:60, 70:80], img[10:60, 70:80] = 5, THIRD
            img[40:60, 70:80] = SHIRT  # two fifths of it in the front one's shirt colour: not enough
        if i == 1:
            lab[10:60, 62:74] = 6
            img[10:22, 62:74], img[22:32, 62:74], img[32:60, 62:74] = HAIR, SKIN, SHIRT
            found.append((63, 18, 10, 11))  # a character whose face is found: never a piece
        frames.append(FrameTracks(lab, faces=found, image=img))
        faces.append(found)
    return frames, faces


def test_a_passing_piece_joins_the_character_whose_colours_it_has_not_the_one_it_touches() -> None:
    frames, faces = _shot()
    mapping = {t: t for t in range(1, 7)}
    out = give_back_pieces(frames, mapping, faces)
    # The strip joins the character behind (its colours), not the front one it touches; wall and a
    # stranger in colours of no one stay as they are (never background); a face keeps its character.
    assert out == {1: 1, 2: 2, 3: 2, 4: 4, 5: 5, 6: 6}


def test_nothing_changes_without_a_detected_face_or_for_effects() -> None:
    frames, faces = _shot()
    mapping = {t: t for t in range(1, 7)}
    assert give_back_pieces(frames, mapping, [[] for _ in faces]) == mapping
    # An effect neither moves nor takes pieces: the strip has no character left whose colours it has.
    assert give_back_pieces(frames, mapping, faces, effects={2, 3}) == mapping
