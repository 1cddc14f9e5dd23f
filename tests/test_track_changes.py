"""A track that is one character and then another (`models.classical.track_changes`): the side that is
a character with a track of its own elsewhere in the shot goes to that track; nothing else changes.
Registration cuts such a track where stage 1 does (`models.classical.character_change`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flat_figures import BLUE, GREEN_HAIR, PINK, PURPLE_HAIR, SKY, draw_figure, track_ids

from app.pipeline.register import split_parts
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.track_changes import cut_changed_tracks


def _shot(n: int = 10, out_at: int = 5, flash: tuple[int, ...] = ()) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The green-haired character walks right; the purple-haired one stands hidden behind it until
    drawing ``out_at``, then stands apart at the left. ``labels``: what the tracker gave them - the
    green one 1 until ``out_at``, then 2, and the purple one 1 from ``out_at`` (its id followed the one
    stepping out); ``truth``: the green one 1 and the purple one 2 throughout. ``flash``: drawings
    tinted through (a white flash the unflash step left pale)."""
    images, labels, truth = [], [], []
    for i in range(n):
        img = np.full((100, 200, 3), SKY, np.uint8)
        true = np.zeros((100, 200), np.uint8)
        xg = 60 + 6 * i
        if i >= out_at:
            draw_figure(img, true, 2, 20, PURPLE_HAIR, BLUE)
        draw_figure(img, true, 1, xg, GREEN_HAIR, PINK)
        lab = true.copy()
        if i >= out_at:
            lab[true == 1] = 2
            lab[true == 2] = 1
        if i in flash:
            img = (255 - (255 - img.astype(np.int32)) // 3).astype(np.uint8)
        images.append(img)
        labels.append(lab)
        truth.append(true)
    return images, labels, truth


def test_a_track_that_changes_character_gives_the_first_one_back_to_its_own_track() -> None:
    images, labels, truth = _shot()
    out = cut_changed_tracks(labels, images, track_ids(labels))
    for i in range(10):
        assert np.array_equal(out[i] == 2, truth[i] == 1)  # the green one is track 2 in every drawing
        assert np.array_equal(out[i] == 1, truth[i] == 2)  # track 1 is the purple one alone
        assert np.array_equal(out[i] > 0, labels[i] > 0)  # only ids change


def test_one_character_throughout_is_left_alone_even_through_a_flash() -> None:
    images, labels, _ = _shot(out_at=99, flash=(4, 5))
    out = cut_changed_tracks(labels, images, track_ids(labels))
    for a, b in zip(out, labels, strict=True):
        assert np.array_equal(a, b)


def test_a_tinted_run_of_drawings_is_no_change_of_character() -> None:
    # Drawings 4-9 tinted through (a glow): both sides consistent, but the colours are the one
    # character's, lighter; with no track of those colours elsewhere nothing is given away.
    images, labels, _ = _shot(out_at=99, flash=tuple(range(4, 10)))
    out = cut_changed_tracks(labels, images, track_ids(labels))
    for a, b in zip(out, labels, strict=True):
        assert np.array_equal(a, b)


def test_a_flash_on_the_second_characters_first_drawing_does_not_move_the_cut() -> None:
    # Drawing 5, the purple one's first on track 1, is tinted: the cut is still before it (stage 1's
    # rule of round 15, the sides' means furthest apart with every drawing on its own side by a margin,
    # cut after it and left drawing 5 on the green one's track).
    images, labels, truth = _shot(flash=(5,))
    out = cut_changed_tracks(labels, images, track_ids(labels))
    for i in range(10):
        assert np.array_equal(out[i] == 2, truth[i] == 1)
        assert np.array_equal(out[i] == 1, truth[i] == 2)


def test_registration_splits_a_changing_track_where_stage_one_cuts_it(tmp_path: Path) -> None:
    # The same track as stage 1 sees it, before its cut: registration describes it by one side and
    # links the other on its own frames, cut at drawing 5 too (its rule of round 15 and stage 1's
    # disagreed here: 5 and 6).
    images, labels, _ = _shot(flash=(5,))
    shot = Shot(0, 10)
    manifest = Manifest("p", SourceInfo("generated", "", "s"), 10, 200, 100, 24.0, shots=[shot])
    with Project.create(tmp_path / "p", manifest) as p:
        halves = split_parts(p, shot, {1: "character", 2: "character"}, {1}, images, labels, list(range(10)), None, {})
    assert (halves[1].first, halves[1].end) == (5, 10)  # the purple one's drawings: the other side
