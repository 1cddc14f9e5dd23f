"""The plate check's colour distance (`filters.colour_distance`), added plane by plane, equals the
summed-axis form bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from models.classical.filters import colour_distance


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distance_planes_equal_the_axis_sum(dtype: type) -> None:
    rng = np.random.default_rng(3)
    a: np.ndarray = (rng.random((61, 97, 3)) * 255).astype(dtype)
    b: np.ndarray = (rng.random((61, 97, 3)) * 255).astype(dtype)
    for x, y in ((a, b), (a, np.roll(a, (2, -3), axis=(0, 1))), (a[::2, 1::3], b[::2, 1::3])):
        want = np.asarray(np.sqrt(((x - y) ** 2).sum(axis=-1)), np.float32)
        got = colour_distance(x, y)
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
