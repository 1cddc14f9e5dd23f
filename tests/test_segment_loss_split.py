"""`benchmarks/segment_generated.py`'s split of the segment stage's errors by what the wrong pixels are."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from app.demo.generator import GeneratedFrame
from app.eval.layers import match_shot

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "segment_generated.py"
_SPEC = importlib.util.spec_from_file_location("segment_generated", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def _truth() -> GeneratedFrame:
    """Two characters side by side on a grey plate, a glow to the right of the second."""
    h, w = 20, 40
    labels = np.zeros((h, w), np.uint8)
    labels[5:15, 5:15] = 1
    labels[5:15, 20:30] = 2
    clean = np.full((h, w, 3), 100, np.uint8)
    image = clean.copy()
    image[labels > 0] = (200, 50, 50)
    effects = np.zeros((h, w), np.float32)
    effects[5:15, 30:34] = 0.8
    image[effects > 0] = 180  # light added over the plate
    image[0:3, 0:5] = 30  # something dark in the background that is not the plate (a shadow)
    alpha = (labels > 0).astype(np.float32)
    return GeneratedFrame(image=image, labels=labels, alpha=alpha, effects=effects, clean=clean,
                          foreground=image, effect_rgb=image)


def test_each_wrong_pixel_is_counted_once_by_what_it_truly_is() -> None:
    truth = _truth()
    pred = np.zeros_like(truth.labels)
    pred[5:15, 3:15] = 1  # character 1 with two columns of plain background (20 px)
    pred[0:3, 3:5] = 1  # ... and 6 px of the dark patch, which is not the plate
    pred[5:15, 22:34] = 2  # character 2 without its first two columns, with the glow (40 px)
    pred[5:15, 20:22] = 1  # character 2's first two columns given to character 1 (20 px)
    match = match_shot([pred], [truth.labels])
    losses = dict.fromkeys(bench.LOSSES, 0)
    bench._split_errors(pred, truth, match, losses)
    assert losses["true"] == 200
    assert losses["false: plain background"] == 20
    assert losses["false: other background"] == 6
    assert losses["false: effect light"] == 40
    assert losses["false: another character"] == 20  # character 2's pixels in character 1's object
    assert losses["missed: another object"] == 20  # ... which character 2 misses
    assert losses["missed: background"] == 0
    assert losses["false: soft edge"] == 0


def test_an_unmatched_character_is_all_lost() -> None:
    truth = _truth()
    pred = np.zeros_like(truth.labels)
    pred[5:15, 5:30] = 1  # one object over both characters: the second is merged into the first
    match = match_shot([pred], [truth.labels])
    losses = dict.fromkeys(bench.LOSSES, 0)
    bench._split_errors(pred, truth, match, losses)
    assert losses["true"] == 200
    assert losses["missed: another object"] == 100  # the merged character, wholly on the other object
    assert losses["false: another character"] == 100
    assert losses["false: plain background"] == 50  # the plate between them


def _walk(parted_at: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Five drawings of a character (2) half behind another (1), both on one predicted object (1), and
    a third character (3) on an object of its own; from drawing ``parted_at`` on, the two have parted
    and the hidden one has an object of its own (2)."""
    truth, pred = [], []
    for i in range(5):
        t = np.zeros((40, 60), np.uint8)  # each character shows over `SHOWN` px
        t[5:35, 8:20] = 2  # the hidden one, behind
        t[5:35, 14:26] = 1  # the one in front, over half of it
        t[5:35, 40:50] = 3
        p = np.where(t > 0, np.where(t == 3, 3, 1), 0).astype(np.uint8)
        if parted_at is not None and i >= parted_at:
            p[t == 2] = 2
        truth.append(t)
        pred.append(p)
    return pred, truth


def test_an_object_holding_two_characters_in_every_drawing_is_listed() -> None:
    pred, truth = _walk(parted_at=None)
    assert bench.holding_two(pred, truth, [set()] * 5) == [1]
    assert bench.holding_two(pred, truth, [{1}] * 5) == []  # text is no character


def test_an_object_that_parts_the_two_in_some_drawing_is_not_listed() -> None:
    pred, truth = _walk(parted_at=4)  # parted in the last drawing only
    assert bench.holding_two(pred, truth, [set()] * 5) == []
