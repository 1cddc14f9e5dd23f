"""Registration of a track that holds one character, then another (app/pipeline/register.py `split_parts`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.pipeline.register import RECORD, known_descriptors, register_shot
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.character_change import change_of_character, drawing_descriptors

H, W = 96, 160
GREY = 128
A = ((210, 40, 40), (40, 60, 220))  # red hair, blue coat
B = ((40, 200, 60), (230, 210, 40))  # green hair, yellow coat


def _draw(image: np.ndarray, labels: np.ndarray, x: int, who: tuple[tuple[int, int, int], ...], track: int) -> None:
    image[10:35, x:x + 40], image[35:80, x:x + 40], labels[10:80, x:x + 40] = who[0], who[1], track


def _drawing(left: tuple[tuple[int, int, int], ...], right: tuple[tuple[int, int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Track 1 on the left showing ``left``, track 2 on the right showing ``right``."""
    image, labels = np.full((H, W, 3), GREY, np.uint8), np.zeros((H, W), np.uint8)
    _draw(image, labels, 15, left, 1)
    _draw(image, labels, 100, right, 2)
    return image, labels


def _register(p: Project, shot: Shot, drawings: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, int]:
    labels = [lab for _, lab in drawings]
    kinds = [dict.fromkeys(np.unique(lab[lab > 0]).tolist(), "character") for lab in labels]
    return register_shot(p, shot, labels, kinds, [img for img, _ in drawings])


def test_two_tracks_that_swap_characters_mid_shot_are_each_character_on_its_frames(tmp_path: Path) -> None:
    # Tuning seed 47 (46-60): in the second shot, track 1 is character 1 for five drawings and character 2
    # for the rest, track 2 the other way round; each track's averaged colours were near neither
    # character's object. Each part of each track is its own character's object on its own frames.
    shots = [Shot(0, 6), Shot(6, 14), Shot(14, 18)]
    with Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "s"), 18, W, H, 24.0, shots=shots)) as p:
        first = _register(p, shots[0], [_drawing(A, B) for _ in range(6)])
        a, b = first[1], first[2]
        assert a != b
        _register(p, shots[1], [_drawing(A, B) if i < 3 else _drawing(B, A) for i in range(8)])
        links = {t.track: t.pieces for t in p.objects.tracks(6)}
        assert links == {1: [[6, a], [9, b]], 2: [[6, b], [9, a]]}
        masks = p.objects.to_objects(6, 12, _drawing(B, A)[1])
        assert masks[50, 30] == b and masks[50, 120] == a  # frame 12: the left track shows B
        # Each part describes its own character for the shots after: A alone is A's object, not a new one.
        record = p.layers.read_record(RECORD, 6) or {}
        assert set(record["parts"]) == {"1", "2"}
        assert set(known_descriptors(p, "character", 14)) == {a, b}
        third = _register(p, shots[2], [_drawing(B, A) for _ in range(4)])
        assert third == {1: b, 2: a}
        assert {o.id for o in p.objects.all()} == {a, b}


def test_a_track_with_one_flash_drawing_is_one_character() -> None:
    # A flash tints one drawing through (0.5-0.8 from the others on the tuning seeds): not a second character.
    drawings = [_drawing(A, B) for _ in range(8)]
    flash = drawings[4][0].astype(np.int32)
    drawings[4] = (np.clip(flash + 110, 0, 255).astype(np.uint8), drawings[4][1])
    images, labels = [img for img, _ in drawings], [lab for _, lab in drawings]
    assert change_of_character(drawing_descriptors(images, labels, 1)) is None
    swapped = [_drawing(A, B) if i < 4 else _drawing(B, A) for i in range(8)]
    sides = change_of_character(drawing_descriptors([img for img, _ in swapped], [lab for _, lab in swapped], 1))
    assert sides == ([0, 1, 2, 3], [4, 5, 6, 7])
