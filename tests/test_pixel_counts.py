"""The propagate stage's per-frame counting and lookups (`pixel_counts`, `Objects.to_objects`,
`fuse_labels`) give exactly what the plain numpy forms give."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.stages.propagate import fuse_labels
from models.classical import labelmaps
from models.classical.labelmaps import pixel_counts
from models.classical.tracks import label_ids


def _labels(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, shape).astype(np.uint8)
    labels[0, 0] = 255
    return labels


def test_pixel_counts_are_bincount_on_any_layout() -> None:
    labels = _labels((121, 163))
    for view in (labels, labels[:, ::2], labels.T):
        assert np.array_equal(pixel_counts(view), np.bincount(view.ravel(), minlength=256))
    assert label_ids(labels) == [1, 2, 3, 4, 5, 6, 255]


def test_pixel_counts_past_the_float_counter_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past 2**24 pixels OpenCV's float32 counts would round: the numpy count takes over (checked on
    # a small map with the limit lowered, and the two paths agree).
    labels = _labels((64, 64), seed=1)
    monkeypatch.setattr(labelmaps, "_EXACT_COUNT", 100)
    assert np.array_equal(pixel_counts(labels), np.bincount(labels.ravel(), minlength=256))


def test_fuse_labels_keeps_its_values() -> None:
    rng = np.random.default_rng(2)
    own = _labels((90, 70), seed=3)
    carried = own.copy()
    carried[::3] = rng.integers(0, 7, carried[::3].shape)
    confidence = rng.random(own.shape).astype(np.float32)
    agree = own == carried
    for override in (None, 0.6):
        final, sure = fuse_labels(own, carried, confidence, override)
        take = ~agree & (confidence >= override) if override is not None else np.zeros_like(agree)
        assert final.dtype == np.uint8 and sure.dtype == np.float32
        assert np.array_equal(final, np.where(take, carried, own))
        expected = np.where(agree, (1 + confidence) / 2, np.where(take, confidence, 1 - confidence))
        assert np.allclose(sure, expected, atol=1e-7)
    # Without an override the frame's own labels stand, and a disagreement is as unsure as the carry was sure.
    final, sure = fuse_labels(own, carried, confidence)
    assert np.array_equal(final, own) and np.allclose(sure[~agree], 1 - confidence[~agree])
