"""The cheaper identity descriptors are the same descriptors: looked-up soft votes equal the per-pixel
computation bit for bit, and a shared per-frame colour cache changes no track's descriptor."""

from __future__ import annotations

import itertools

import numpy as np

from models.classical.identity import BINS, FrameColours, _hist, _votes, colour_hist, track_descriptor


def per_pixel_votes(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The soft votes computed pixel by pixel (the definition `_votes` must keep)."""
    corners = []
    for i, n in enumerate(BINS):
        c = lab[:, i].astype(np.float32) * (n / 256.0) - 0.5
        lo = np.floor(c)
        frac = (c - lo).astype(np.float32)
        below = np.clip(lo.astype(np.int64), 0, n - 1)
        above = np.clip(lo.astype(np.int64) + 1, 0, n - 1)
        corners.append(((below, 1.0 - frac), (above, frac)))
    idx, wts = [], []
    for (i0, w0), (i1, w1), (i2, w2) in itertools.product(*corners):
        idx.append((i0 * BINS[1] + i1) * BINS[2] + i2)
        wts.append(w0 * w1 * w2)
    return np.stack(idx, axis=1), np.stack(wts, axis=1).astype(np.float32)


def test_looked_up_votes_equal_per_pixel_votes_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 256, (5000, 3), dtype=np.uint8)
    lab[:256] = np.arange(256, dtype=np.uint8)[:, None]  # every value, the clipped ends included
    idx, wts = _votes(lab)
    ref_idx, ref_wts = per_pixel_votes(lab)
    assert idx.shape == ref_idx.shape == (5000, 8)
    assert np.array_equal(idx, ref_idx)
    assert wts.dtype == np.float32 and np.array_equal(wts, ref_wts)
    assert np.array_equal(_hist((idx, wts)), _hist((ref_idx, ref_wts)))


def test_shared_frame_colours_give_the_same_descriptors() -> None:
    rng = np.random.default_rng(5)
    frames, labels = [], []
    for k in range(3):
        img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
        lab = np.zeros((60, 80), np.uint8)
        lab[5:35, 5 + k : 35 + k] = 1
        lab[20:55, 40:75 - k] = 2
        img[lab == 1] = (200, 40, 40)
        img[lab == 2] = (40, 60, 210)
        frames.append(img)
        labels.append(lab)
    cache: dict[int, FrameColours] = {}
    for track in (1, 2):
        alone = track_descriptor(frames, labels, track)
        shared = track_descriptor(frames, labels, track, cache=cache)
        assert alone is not None and shared is not None
        for a, b in ((alone.whole, shared.whole), (alone.top, shared.top), (alone.shape, shared.shape)):
            assert np.array_equal(a, b)
    assert sorted(cache) == [0, 1, 2] and all(c.background is not None for c in cache.values())
    # The two tracks are told apart by colour (the cache did not hand one track's colours to the other).
    one, two = track_descriptor(frames, labels, 1, cache=cache), track_descriptor(frames, labels, 2, cache=cache)
    assert one is not None and two is not None and not np.allclose(one.whole, two.whole)


def test_colour_hist_equals_the_histogram_of_the_votes_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 300, 200_000):
        lab = rng.integers(0, 256, (n, 3), dtype=np.uint8)
        if n >= 256:
            lab[:256] = np.arange(256, dtype=np.uint8)[:, None]  # the clipped ends of every channel
            lab[n // 2 :] = (128, 77, 200)  # a flat fill: many votes summed into the same bins
        got, want = colour_hist(lab), _hist(_votes(lab))
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.array_equal(got, want)
        assert abs(float(got.sum()) - 1.0) < 1e-5
