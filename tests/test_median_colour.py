"""Counted medians of 8-bit colours (`filters.median_colour`, `masked_median_colour`) equal numpy's
float median bit for bit, and the cheaper bounding box of `identity.frame_descriptor` gives the
shape the listed pixels gave."""

from __future__ import annotations

import numpy as np
import pytest

from models.classical.filters import masked_median_colour, median_colour
from models.classical.identity import MIN_PIXELS, frame_descriptor


@pytest.mark.parametrize("levels", [1, 2, 7, 256])
def test_counted_medians_equal_numpy_median(levels: int) -> None:
    rng = np.random.default_rng(levels)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        image = rng.integers(0, levels, (h + 6, w + 5, 3)).astype(np.uint8)
        mask = rng.random((h + 6, w + 5)) < rng.random()
        mask[3, 2] = True  # never empty here
        window, inside = image[3 : 3 + h, 2 : 2 + w], mask[3 : 3 + h, 2 : 2 + w]  # strided windows
        want = np.median(window[inside].astype(np.float32), axis=0)
        for got in (median_colour(window[inside]), masked_median_colour(window, inside)):
            assert got.dtype == want.dtype == np.float32
            assert got.tobytes() == want.tobytes()


def test_counted_medians_of_even_counts_average_the_middle_levels() -> None:
    pixels = np.array([[0, 10, 255], [1, 20, 254], [2, 10, 0], [255, 21, 1]], np.uint8)
    assert median_colour(pixels).tolist() == [1.5, 15.0, 127.5]
    mask = np.ones((2, 2), bool)
    assert masked_median_colour(pixels.reshape(2, 2, 3), mask).tolist() == [1.5, 15.0, 127.5]


def test_empty_counted_medians_are_nan_like_numpy() -> None:
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        assert np.isnan(median_colour(np.zeros((0, 3), np.uint8))).all()
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        assert np.isnan(masked_median_colour(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), bool))).all()


@pytest.mark.parametrize("where", ["middle", "top-left", "bottom-right"])
def test_descriptor_shape_is_the_listed_pixels_box(where: str) -> None:
    rng = np.random.default_rng(5)
    h, w = 120, 160
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    rows, cols = {"middle": (slice(30, 71), slice(40, 97)), "top-left": (slice(0, 50), slice(0, 33)),
                  "bottom-right": (slice(77, h), slice(101, w))}[where]
    mask[rows, cols] = rng.random((rows.stop - rows.start, cols.stop - cols.start)) < 0.8
    ys, xs = np.nonzero(mask)
    bh, bw = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
    assert len(ys) >= MIN_PIXELS
    got = frame_descriptor(image, mask)
    assert got is not None
    want = np.array([np.log(bh / max(1, bw)), len(ys) / max(1, bh * bw)], np.float32)
    assert got.shape.tobytes() == want.tobytes()
