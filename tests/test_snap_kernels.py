"""The label snapping's pick and margin (`tracks.best_and_gap`) equal `np.argmax` and the gap of
`np.partition`'s top two, ties and all."""

from __future__ import annotations

import numpy as np
import pytest

from models.classical.tracks import best_and_gap


@pytest.mark.parametrize("rows", [2, 3, 5])
def test_best_and_gap_equal_argmax_and_partition(rows: int) -> None:
    rng = np.random.default_rng(rows)
    for trial in range(200):
        score = rng.random((rows, int(rng.integers(1, 400)))).astype(np.float32)
        if trial % 2:
            score = (np.round(score * 3) / 3).astype(np.float32)  # many ties, between any rows
        score[:, ::7] = 0.0
        best, gap = best_and_gap(score)
        top2 = np.partition(score, -2, axis=0)[-2:]
        assert np.array_equal(best, np.argmax(score, axis=0))
        assert gap.dtype == np.float32 and gap.tobytes() == (top2[1] - top2[0]).tobytes()
