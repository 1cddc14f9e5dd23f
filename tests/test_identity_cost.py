"""The cheaper identity descriptors are the same descriptors: looked-up soft votes equal the per-pixel
computation bit for bit, and a shared per-frame colour cache changes no track's descriptor."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from models.classical.identity import (
    BACKGROUND_WEIGHT,
    BINS,
    MIN_PIXELS,
    FrameColours,
    _hist,
    _votes,
    colour_hist,
    core_pixels,
    frame_descriptor,
    track_descriptor,
)


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


def whole_frame_descriptor(image: np.ndarray, mask: np.ndarray, labels: np.ndarray) -> list[np.ndarray] | None:
    """`frame_descriptor` computed over the whole frame (its definition before the bounding box)."""
    fill = core_pixels(image, mask, labels)
    if fill.sum() < MIN_PIXELS:
        return None
    lab = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.uint8)
    votes = _votes(lab[fill])
    p_bg, p_obj = _hist(_votes(lab[labels == 0])), _hist(votes)
    own = p_obj / np.maximum(1e-9, p_obj + BACKGROUND_WEIGHT * p_bg)
    weights = (own[votes[0]] * votes[1]).sum(axis=1).astype(np.float32)
    ys = np.nonzero(mask)[0]
    y0, y1 = ys.min(), ys.max() + 1
    in_top = np.nonzero(fill)[0] < y0 + 0.3 * (y1 - y0)
    whole = _hist(votes, weights)
    top = _hist((votes[0][in_top], votes[1][in_top]), weights[in_top]) if in_top.sum() >= MIN_PIXELS // 2 else whole
    return [whole, top]


def test_descriptor_from_the_bounding_box_equals_the_whole_frame() -> None:
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    labels = np.zeros((90, 120), np.uint8)
    labels[0:50, 0:40] = 1  # touches the frame's corner
    labels[10:70, 42:90] = 2  # two pixels from object 1: the contact band reaches into it
    labels[60:90, 88:120] = 3  # touches two edges and object 2
    labels[20:30, 60:70] = 4  # inside object 2's box
    for oid, colour in ((1, (220, 30, 30)), (2, (30, 200, 60)), (3, (40, 40, 230)), (4, (240, 240, 20))):
        sel = labels == oid
        image[sel] = (np.asarray(colour) + rng.integers(-20, 20, (int(sel.sum()), 3))).clip(0, 255).astype(np.uint8)
    for oid in (1, 2, 3, 4):
        mask = labels == oid
        got, want = frame_descriptor(image, mask, labels), whole_frame_descriptor(image, mask, labels)
        assert got is not None and want is not None
        assert np.array_equal(got.whole, want[0]) and np.array_equal(got.top, want[1])
    assert frame_descriptor(image, np.zeros_like(labels, bool), labels) is None
    # A thin object one background pixel right of the box: only its contact band trims the object.
    labels = np.zeros((90, 120), np.uint8)
    labels[30:60, 20:50] = 5
    labels[30:60, 51] = 6
    image[labels == 5] = (200, 100, 50)
    image[30:60, 44:50] = (20, 90, 240)  # the band it trims has colours of its own
    got, want = frame_descriptor(image, labels == 5, labels), whole_frame_descriptor(image, labels == 5, labels)
    assert got is not None and want is not None
    assert np.array_equal(got.whole, want[0]) and np.array_equal(got.top, want[1])
