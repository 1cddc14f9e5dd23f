"""Registration and fragments: an object known only from a brief piece of a character (app/pipeline/register.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.pipeline.register import RECORD, fragment_objects, piece_tracks, register_shot
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.identity import LINK_THRESHOLD, TrackDescriptor, distance, track_descriptor

H, W = 96, 128
RED, BLUE, GREEN, GREY = (210, 40, 40), (40, 60, 220), (40, 200, 60), 128


def _first_shot(drawing: int, strip: int) -> tuple[np.ndarray, np.ndarray]:
    """The character (red hair, blue coat) as track 1, with a ``strip`` px high strip of a green neighbour
    the segment stage took with it; in the first drawing only, a piece of the character split off as track 2."""
    image, labels = np.full((H, W, 3), GREY, np.uint8), np.zeros((H, W), np.uint8)
    image[8:38, 10:58], image[38:68, 10:58], labels[8:68, 10:58] = RED, BLUE, 1
    image[8:8 + strip, 58:80], labels[8:8 + strip, 58:80] = GREEN, 1
    if drawing == 0:
        image[20:40, 90:120], image[40:60, 90:120], labels[20:60, 90:120] = RED, BLUE, 2
    return image, labels


def _later_shot(drawing: int, piece: bool) -> tuple[np.ndarray, np.ndarray]:
    """The character alone and whole (track 1); with ``piece``, a piece of it apart for one drawing (track 2)."""
    image, labels = np.full((H, W, 3), GREY, np.uint8), np.zeros((H, W), np.uint8)
    image[20:45, 30:70], image[45:80, 30:70], labels[20:80, 30:70] = RED, BLUE, 1
    if piece and drawing == 0:
        image[20:40, 90:120], image[40:60, 90:120], labels[20:60, 90:120] = RED, BLUE, 2
    return image, labels


def _register(p: Project, shot: Shot, drawings: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, int]:
    labels = [lab for _, lab in drawings]
    kinds = [dict.fromkeys(np.unique(lab[lab > 0]).tolist(), "character") for lab in labels]
    return register_shot(p, shot, labels, kinds, [img for img, _ in drawings])


@pytest.mark.parametrize("strip", [10, 24])
def test_a_whole_track_is_not_linked_to_the_object_of_a_brief_piece_of_its_character(tmp_path: Path, strip: int) -> None:
    # Tuning seeds 60 and 52 (46-60): the first shot's track of a character is impure (a neighbour's
    # strip) and a clean piece of it was split off for a drawing; the character's next track comes nearer
    # the piece's object than its own, and the character lived on as the piece's object. A whole track
    # is only linked to its own (strip 10: under the threshold from it), or is a new object (strip 24:
    # over it; without the rule in `join_objects` the new object was joined to the piece's). A brief
    # piece in a later shot is still linked to the piece's object.
    shots = [Shot(0, 4), Shot(4, 8), Shot(8, 12)]
    with Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "f"), 12, W, H, 24.0, shots=shots)) as p:
        first = _register(p, shots[0], [_first_shot(i, strip) for i in range(4)])
        whole, piece = first[1], first[2]
        assert whole != piece and fragment_objects(p, shots[1].start) == {piece}
        stored = (p.layers.read_record(RECORD, 0) or {})["tracks"]
        later = [_later_shot(i, piece=False) for i in range(4)]
        images, labels = [img for img, _ in later], [lab for _, lab in later]
        track = track_descriptor(images, labels, 1)
        assert track is not None
        d_whole, d_piece = (distance(track, TrackDescriptor.from_json(stored[str(t)])) for t in (1, 2))
        assert d_piece < LINK_THRESHOLD and d_piece < d_whole  # the trap: the piece is nearer
        second = _register(p, shots[1], later)
        if d_whole < LINK_THRESHOLD:
            assert second == {1: whole}
        else:
            assert d_whole > LINK_THRESHOLD + 0.02 and second[1] not in (whole, piece)
        third = _register(p, shots[2], [_later_shot(i, piece=True) for i in range(4)])
        assert third == {1: second[1], 2: piece}
        assert {o.id for o in p.objects.all()} == {whole, piece, second[1]}


def test_a_piece_is_brief_and_small_beside_the_shots_other_tracks_and_someone_passing_through_is_not() -> None:
    # Tuning seed 35 (11-45): a character on screen in 4 of the shot's 10 drawings, as large as the others,
    # is that character's only appearance there; its object must stay a target for its later tracks.
    labels = []
    for i in range(10):
        lab = np.zeros((H, W), np.uint8)
        lab[10:60, 10:40] = 1  # a whole track, 1,500 px
        lab[10:60, 50:80] = 2  # another, 1,500 px
        if i < 4:
            lab[60:90, 90:120] = 3  # passing through: 4 of 10 drawings, 900 px
        if i == 0:
            lab[70:90, 10:30] = 4  # a piece: 1 drawing, 400 px
        labels.append(lab)
    found = dict.fromkeys(range(1, 5), "character")
    assert piece_tracks(labels, found) == {4}
    assert piece_tracks(labels, {**found, 4: "text"}) == set()  # burnt-in text is never a piece
