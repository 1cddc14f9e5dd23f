"""Held drawings: found at import from the pictures alone, stored per project, never across a cut."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import write_mp4

from app.ingest.holds import HoldDetector, same_drawing
from app.ingest.importer import import_source
from app.store import Project, Shot
from app.store.drawings import drawing_keys

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "anime" / "clips"


def _cel(seed: int, drawing: int, w: int = 256, h: int = 144) -> np.ndarray:
    """A flat-painted background with a character whose pose (position, mouth) changes per drawing."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(60, 200, 3)
    for _ in range(5):
        y, x = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 80)), y + int(rng.integers(10, 50))),
                      tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    cx = 60 + 6 * (drawing % 7)
    cv2.ellipse(img, (cx, 70), (22, 30), 0, 0, 360, (250, 220, 200), -1)
    cv2.ellipse(img, (cx, 70), (22, 30), 0, 0, 360, (20, 20, 20), 2)
    mouth = 2 + 3 * (drawing % 2)  # the mouth flap: a small change, as in dialogue
    cv2.ellipse(img, (cx, 84), (6, mouth), 0, 0, 360, (120, 30, 40), -1)
    return img


def _encode(path: Path, frames: list[np.ndarray], crf: int = 28) -> None:
    write_mp4(path, frames, crf=crf, preset="medium", gop=12)


def test_same_drawing_tells_noise_from_drawn_changes() -> None:
    def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)

    a = _cel(1, 0)
    assert same_drawing(jpeg(a, 70), jpeg(a, 95))  # two encodings of one picture: the same drawing
    assert not same_drawing(a, _cel(1, 1))  # a mouth flap is a new drawing
    assert not same_drawing(a, np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8))  # a fade step
    assert not same_drawing(a, np.roll(a, 2, axis=1))  # a pan over a held cel
    blink = a.copy()
    blink[40:43, 10:16] = 0  # a small stroke (a blink in a wide shot)
    assert not same_drawing(a, blink)


def test_detector_compares_with_the_drawing_not_the_previous_frame() -> None:
    """A slow drift (one grey level a frame) must not chain into one endless hold."""
    base = _cel(2, 0).astype(np.int16)
    detector = HoldDetector()
    held = [detector.push(np.clip(base + k, 0, 255).astype(np.uint8)) for k in range(12)]
    assert held[1] and not all(held[1:])


def test_keys_break_at_shot_starts() -> None:
    held = [False, True, True, True, True, False, True]
    keys = drawing_keys(held, [Shot(0, 3), Shot(3, 7)])
    assert keys.tolist() == [0, 0, 0, 3, 3, 5, 5]


def test_import_finds_the_true_holds(tmp_path: Path) -> None:
    """Drawings held for 1-3 frames (as on ones, twos and threes), encoded to H.264 and imported:
    the frame -> drawing map equals the truth exactly, and `info` counts the drawings."""
    rng = np.random.default_rng(7)
    frames: list[np.ndarray] = []
    truth: list[int] = []
    for drawing in range(14):
        key = len(frames)
        for _ in range(int(rng.integers(1, 4))):
            frames.append(_cel(3, drawing))
            truth.append(key)
    video = tmp_path / "held.mp4"
    _encode(video, frames)
    with import_source(video, tmp_path / "proj") as project:
        assert project.drawing_keys.tolist() == truth
        assert project.drawing_count == 14
        some_held = next(f for f in range(len(truth)) if truth[f] != f)
        assert project.hold_of(some_held) == range(truth[some_held], truth[some_held] + truth.count(truth[some_held]))
    with Project.open(tmp_path / "proj") as reopened:  # stored, not recomputed from frames
        assert reopened.drawing_keys.tolist() == truth


@pytest.mark.skipif(not (SHARED / "onepiece_demo.mp4").is_file(), reason="../shared/data/anime/clips is absent")
def test_real_clip_holds_are_mostly_held_and_never_across_the_cut() -> None:
    """onepiece_demo.mp4 has one cut at 100 and is mostly held (dialogue on threes)."""
    detector = HoldDetector()
    with av.open(str(SHARED / "onepiece_demo.mp4")) as container:
        for frame in container.decode(video=0):
            detector.push(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8))
    keys = drawing_keys(detector.held, [Shot(0, 100), Shot(100, len(detector.held))])
    drawings = int(np.count_nonzero(keys == np.arange(len(keys))))
    assert keys[100] == 100
    assert len(keys) / drawings > 2.5  # at least as held as animation on twos-and-threes


def test_timeline_hold_spans() -> None:
    from app.ui.timeline import hold_spans

    keys = np.array([0, 0, 0, 3, 3, 5, 6, 7, 7, 7, 10, 11])
    assert hold_spans(keys, 0, 12) == [(0, 3), (3, 5), (7, 10)]  # single-frame drawings have no bar
    assert hold_spans(keys, 1, 4) == [(0, 3), (3, 5)]  # spans that begin or end outside the view
    assert hold_spans(keys, 8, 9) == [(7, 10)]
    assert hold_spans(keys, 5, 7) == []
