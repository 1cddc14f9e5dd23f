"""Pieces of background tracked as objects are found by what they show; a character seen in one frame,
or standing still all shot, is never one of them (models/classical/background_pieces.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.background_pieces import background_tracks

H, W, PAN, N = 72, 120, 3, 8
INK = (20, 20, 30)


def scene(coloured: bool = False) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A panning shot over painted bands. Track 1: a character walking right, every frame. Track 2: a
    character who passes in frame 4 only. Track 3: a block of the background beside the walker in frame
    3 (what GrabCut's box leaves, given an id of its own). Track 4: a character standing still in the
    scene all shot, whose masks in the first four frames missed its lower half (so those frames show
    it outside every mask). ``coloured``: bands of saturated colours. Returns frames, labels and the
    frame-to-plate transforms."""
    rng = np.random.default_rng(7)
    wide = np.zeros((H, W + PAN * N, 3), np.uint8)
    for x in range(0, wide.shape[1], 6):
        wide[:, x:x + 6] = rng.integers(40, 230, 3)
        if coloured:
            hsv = np.array([[[rng.integers(0, 180), 170, rng.integers(120, 200)]]], np.uint8)
            wide[:, x:x + 6] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    frames, labels, transforms = [], [], []
    for i in range(N):
        img = wide.copy()
        lab = np.zeros(img.shape[:2], np.uint8)
        cx = 20 + 5 * i + PAN * i  # the walker, in plate coordinates
        cv2.ellipse(img, (cx, 40), (9, 18), 0, 0, 360, (240, 200, 170), -1)
        cv2.ellipse(img, (cx, 40), (9, 18), 0, 0, 360, INK, 2)
        cv2.ellipse(lab, (cx, 40), (10, 19), 0, 0, 360, 1, -1)
        if i == 4:  # the passer-by: its own colours inside its own line art
            cv2.rectangle(img, (70 + PAN * i, 15), (90 + PAN * i, 60), INK, -1)
            cv2.rectangle(img, (72 + PAN * i, 17), (88 + PAN * i, 58), (60, 160, 90), -1)
            lab[15:61, 70 + PAN * i:91 + PAN * i] = 2
        if i == 3:
            lab[25:55, cx + 11:cx + 25] = 3
        sx = 100  # the still character, in plate coordinates
        cv2.rectangle(img, (sx, 20), (sx + 12, 62), INK, -1)
        cv2.rectangle(img, (sx + 2, 22), (sx + 10, 60), (200, 80, 200), -1)
        lab[20:63 if i >= 4 else 40, sx:sx + 13] = 4  # the first four masks missed its lower half
        sl = slice(PAN * i, PAN * i + W)
        frames.append(np.ascontiguousarray(img[:, sl]))
        labels.append(np.ascontiguousarray(lab[:, sl]))
        transforms.append(np.array([[1.0, 0, PAN * i], [0, 1.0, 0], [0, 0, 1.0]]))
    return frames, labels, transforms


def test_a_block_of_background_is_found_and_a_character_passing_in_one_frame_stays() -> None:
    frames, labels, transforms = scene()
    kinds = [dict.fromkeys(range(1, 5), "character")] * N
    assert background_tracks(frames, labels, kinds, transforms) == {3}


def test_other_kinds_and_a_shot_of_one_frame_are_left_alone() -> None:
    frames, labels, transforms = scene()
    assert background_tracks(frames, labels, [{1: "character", 2: "character", 3: "effect", 4: "character"}] * N,
                             transforms) == set()
    assert background_tracks(frames[3:4], labels[3:4], [{3: "character"}], transforms[3:4]) == set()


def test_registration_gives_the_background_pieces_no_object(tmp_path: Path) -> None:
    from app.pipeline.register import register_shot

    frames, labels, transforms = scene()
    kinds = [dict.fromkeys(range(1, 5), "character")] * N
    with Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "h"), N, W, H, 24.0,
                                                 shots=[Shot(0, N)])) as p:
        found = background_tracks(frames, labels, kinds, transforms)
        links = register_shot(p, p.shots[0], labels, kinds, frames, background=found)
        assert links[3] == 0 and all(links[t] for t in (1, 2, 4))
        assert len(p.objects.all()) == 3


def test_a_still_character_the_segmenter_lost_in_half_the_drawings_stays() -> None:
    """A still character's track held in only the first half of the drawings (the segmenter found
    nothing of it in the rest, which show it outside every mask in its own colours) is not background;
    nor is one in a shot whose other drawings hold no character at all (a four-frame clip where the
    segmenter found nothing in two drawings lost its one character to this rule)."""
    frames, labels, transforms = scene()
    half = [np.where(lab == 4, 0 if i >= N // 2 else 4, lab).astype(np.uint8) for i, lab in enumerate(labels)]
    kinds = [dict.fromkeys(range(1, 5), "character")] * N
    assert 4 not in background_tracks(frames, half, kinds, transforms)
    alone = [np.where(lab == 4, 4, 0).astype(np.uint8) if i < 3 else np.zeros_like(lab) for i, lab in enumerate(labels)]
    assert background_tracks(frames, alone, [{4: "character"}] * N, transforms) == set()


def test_a_block_under_a_glow_is_found_and_a_white_shirt_passing_over_the_bands_is_not() -> None:
    """Track 3's block lit by a glow in its one drawing (the bands blended 40 % towards white: brighter,
    the same hue, less chroma), which no other drawing shows in those colours; and the passer-by of
    drawing 4 in a white shirt (brighter than every band there, but with no hue to share)."""
    frames, labels, transforms = scene(coloured=True)
    cx = 20 + 5 * 3  # the walker in frame 3's own coordinates
    block = frames[3][25:55, cx + 11:cx + 25].astype(np.float32)
    frames[3][25:55, cx + 11:cx + 25] = np.round(0.6 * block + 0.4 * 255).astype(np.uint8)
    frames[4][17:59, 72:89] = (245, 245, 240)
    kinds = [dict.fromkeys(range(1, 5), "character")] * N
    assert background_tracks(frames, labels, kinds, transforms) == {3}
