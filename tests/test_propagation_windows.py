"""The propagator's windowed work (snapping in the rows near objects, closing a splat in its box, the
passes' blend by lookup table) gives the same bits as the whole-frame work it replaces."""

from __future__ import annotations

import cv2
import numpy as np

from models.base import Propagation
from models.classical.propagation import _blend, _unknown
from models.classical.tracks import Tracks, _splat, colour_index


def _full_frame_snap(tracks: Tracks, image: np.ndarray, warped: np.ndarray, consist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The snapping as it was, over the whole frame (the reference)."""
    assert tracks.post is not None
    ids = tracks.post_ids
    onehot = np.stack([cv2.GaussianBlur((warped == k).astype(np.float32), (0, 0), tracks.sigma) for k in ids])
    band = onehot.max(axis=0) < 0.999
    margin = np.ones(warped.shape, np.float32)
    if not band.any():
        return warped, margin
    idx = colour_index(image[band])
    power = tracks.snap * (1.5 - 0.5 * consist[band])
    score = onehot[:, band] * tracks.post[:, idx] ** power
    score /= score.sum(axis=0, keepdims=True) + 1e-12
    out = warped.copy()
    out[band] = ids[np.argmax(score, axis=0)]
    top2 = np.partition(score, -2, axis=0)[-2:]
    margin[band] = top2[1] - top2[0]
    return out, margin


def _scene(h: int, w: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy painted frame with two objects, and labels ``dy`` rows off the objects' colours."""
    rng = np.random.default_rng(3)
    image = rng.integers(90, 140, (h, w, 3), dtype=np.uint8)
    labels = np.zeros((h, w), np.uint8)
    cv2.circle(image, (w // 3, h // 2), h // 6, (220, 60, 40), -1)
    cv2.rectangle(image, (w // 2, h // 3), (w // 2 + w // 5, h // 2 + h // 8), (40, 200, 90), -1)
    cv2.circle(labels, (w // 3, h // 2 + dy), h // 6, 1, -1)
    cv2.rectangle(labels, (w // 2, h // 3 + dy), (w // 2 + w // 5, h // 2 + h // 8 + dy), 2, -1)
    noise = np.clip(image.astype(np.int16) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)
    return noise, labels


def test_snapping_in_the_rows_near_objects_equals_the_whole_frame_snapping() -> None:
    h, w = 540, 960  # objects in the middle rows: the window leaves rows above and below out
    image, seed = _scene(h, w, 0)
    tracks = Tracks((h, w), snap=0.5, band=2.0)
    tracks.merge_seed(image, seed)
    _, warped = _scene(h, w, 4)  # the flow put the boundaries 4 rows off the colour edges
    consist = np.random.default_rng(5).random((h, w)).astype(np.float32)
    got_labels, got_margin = tracks._snap(image, warped, consist)
    want_labels, want_margin = _full_frame_snap(tracks, image, warped, consist)
    assert np.count_nonzero(want_labels != warped) > 100  # the snapping moved boundaries
    assert np.array_equal(got_labels, want_labels)
    assert np.array_equal(got_margin, want_margin)  # bit for bit, floats included


def test_snapping_with_objects_at_the_frame_edges_equals_the_whole_frame_snapping() -> None:
    h, w = 300, 400
    image, seed = _scene(h, w, 0)
    seed[:10] = 1  # an object along the top edge and one along the bottom
    seed[-8:] = 2
    tracks = Tracks((h, w), snap=0.5, band=2.0)
    tracks.merge_seed(image, seed)
    warped = np.roll(seed, 3, axis=0)
    consist = np.full((h, w), 0.7, np.float32)
    got, want = tracks._snap(image, warped, consist), _full_frame_snap(tracks, image, warped, consist)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_splat_closed_in_its_box_equals_the_whole_frame_closing() -> None:
    rng = np.random.default_rng(7)
    h, w = 120, 160
    close = np.ones((3, 3), np.uint8)
    for cy, cx in [(60, 80), (1, 1), (118, 158), (0, 100)]:  # inside, and against every edge
        ty = np.clip(cy + rng.integers(-12, 13, 300), 0, h - 1)
        tx = np.clip(cx + rng.integers(-12, 13, 300), 0, w - 1)
        hit = np.zeros((h, w), np.uint8)
        hit[ty, tx] = 1
        want = cv2.erode(cv2.dilate(hit, close), close) > 0
        assert np.count_nonzero(want) > np.count_nonzero(hit)  # the closing filled pinholes
        assert np.array_equal(_splat(tx, ty, (h, w)), want)
    assert not _splat(np.zeros(0, np.intp), np.zeros(0, np.intp), (h, w)).any()


def test_unknown_labels_by_lookup_equal_isin() -> None:
    labels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for ids in (frozenset(), frozenset({1}), frozenset({3, 7, 255})):
        want = ~np.isin(labels, list(ids)) & (labels != 0)
        assert np.array_equal(_unknown(ids)[labels], want)


def _reference_blend(a: np.ndarray, ca: np.ndarray, b: np.ndarray, cb: np.ndarray, prev_ids: frozenset[int],
                     new_ids: frozenset[int]) -> tuple[np.ndarray, np.ndarray]:
    """The passes' blend as it was, with chained np.where (the reference)."""
    take_new = cb > ca
    unknown_to_new = ~np.isin(a, list(new_ids)) & (a != 0)
    unknown_to_prev = ~np.isin(b, list(prev_ids)) & (b != 0)
    take_new = np.where(unknown_to_new & ~unknown_to_prev, False, take_new)
    take_new = np.where(unknown_to_prev & ~unknown_to_new, True, take_new)
    merged = np.where(take_new, b, a).astype(np.uint8)
    hi, lo = np.maximum(ca, cb), np.minimum(ca, cb)
    c = np.where(a == b, 1.0 - (1.0 - hi) * (1.0 - lo), np.where(unknown_to_new | unknown_to_prev,
                                                                np.where(take_new, cb, ca), hi - lo))
    return merged, c.astype(np.float32)


def test_blend_of_two_passes_equals_the_chained_where_blend() -> None:
    rng = np.random.default_rng(11)
    a = rng.integers(0, 5, (64, 80)).astype(np.uint8)  # labels 1..4, some known to one pass only
    b = rng.integers(0, 5, (64, 80)).astype(np.uint8)
    ca, cb = rng.random((64, 80), dtype=np.float32), rng.random((64, 80), dtype=np.float32)
    for prev_ids, new_ids in [(frozenset({1, 2, 3}), frozenset({1, 2, 4})), (frozenset({1, 2, 3, 4}),) * 2]:
        got = _blend(Propagation(a, ca), prev_ids, Propagation(b, cb), new_ids)
        want = _reference_blend(a, ca, b, cb, prev_ids, new_ids)
        assert np.array_equal(got.labels, want[0])
        assert np.array_equal(got.confidence, want[1]) and got.confidence.dtype == np.float32
