"""The segment stage's cheaper mechanics give what the plain computations give, bit for bit: a frame's
support shared between `BackgroundModel.support` and `BackgroundModel.dominant`; the ids present in a
label map counted, not sorted; a shot's frames finished on several threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pans import shot

from app.demo.generator import generate_shots
from models.classical.background import BackgroundModel
from models.classical.camera import estimate_camera
from models.classical.segmentation import ClassicalSegmenter
from models.classical.tracks import label_ids


def _model() -> tuple[BackgroundModel, list[np.ndarray], list[np.ndarray]]:
    frames, _, _, _ = shot(n=10)
    transforms = estimate_camera(frames, 160)
    return BackgroundModel(frames, transforms, 1.0, 6), frames, transforms


def test_support_then_dominant_of_a_frame_is_each_computed_alone() -> None:
    model, frames, ts = _model()

    def both(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sup, known = model.support(frames[i], ts[i], i)  # the segmenter's order: dominant reuses this
        return sup, known, model.dominant(frames[i], ts[i], i)

    with ThreadPoolExecutor(3) as pool:  # each thread keeps its own last frame
        shared = list(pool.map(both, range(len(frames))))
    for i, (sup, known, dom) in enumerate(shared):
        fresh, fresh_known = _model()[0].support(frames[i], ts[i], i)
        assert np.array_equal(sup, fresh) and np.array_equal(known, fresh_known)
        assert np.array_equal(dom, _model()[0].dominant(frames[i], ts[i], i))


def test_a_frame_asked_about_with_another_camera_or_index_is_recomputed() -> None:
    model, frames, ts = _model()
    small = frames[4]
    model.support(small, ts[4], 4)
    moved = ts[4] @ np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    fresh = _model()[0]
    assert np.array_equal(model.dominant(small, moved, 4), fresh.dominant(small, moved, 4))
    assert np.array_equal(model.support(small, ts[4], 2)[0], fresh.support(small, ts[4], 2)[0])
    assert not np.array_equal(model.support(small, ts[4], 2)[0], fresh.support(small, ts[4], 4)[0])


def test_label_ids_are_the_nonzero_unique_ids() -> None:
    rng = np.random.default_rng(5)
    maps: list[np.ndarray] = [np.zeros((30, 40), np.uint8), rng.integers(0, 256, (30, 40)).astype(np.uint8),
            np.where(rng.random((30, 40)) > 0.9, 255, 0).astype(np.uint8), rng.integers(0, 4, (30, 40)).astype(np.int32)]
    for lab in maps:
        assert label_ids(lab) == [int(t) for t in np.unique(lab) if t]


def test_a_shot_segmented_on_several_threads_is_the_serial_result() -> None:
    # 960 px wide: modelled at half size, so the full-resolution labels go through the guided filter.
    video = generate_shots(3, width=960, height=540, shots=1, frames_per_shot=6)
    frames = [f.image for f in video]
    serial = ClassicalSegmenter(workers=1).segment_shot(frames)
    threaded = ClassicalSegmenter(workers=3).segment_shot(frames)
    assert any(r.labels.any() for r in serial)
    for a, b in zip(serial, threaded, strict=True):
        assert np.array_equal(a.labels, b.labels) and a.kinds == b.kinds
        assert a.confidence is not None and b.confidence is not None
        assert np.array_equal(a.confidence, b.confidence)


def test_a_masks_hull_from_its_rows_ends_is_the_hull_of_all_its_pixels() -> None:
    """`morphology.hull_points` (each row's first and last pixel) gives `cv2.convexHull` the same
    hull, vertex for vertex, as every pixel of the mask: filled shapes, sparse specks, one pixel."""
    import cv2

    from models.classical.morphology import hull_points

    rng = np.random.default_rng(11)
    for t in range(300):
        m = np.zeros((int(rng.integers(1, 90)), int(rng.integers(1, 90))), bool)
        for _ in range(int(rng.integers(1, 5))):
            y, x = int(rng.integers(0, m.shape[0])), int(rng.integers(0, m.shape[1]))
            m[y:y + int(rng.integers(1, 40)), x:x + int(rng.integers(1, 40))] = True
        if t % 2:
            m &= rng.random(m.shape) < 0.1
        full = cv2.findNonZero(m.astype(np.uint8))
        ends = hull_points(m)
        if full is None:
            assert ends is None
            continue
        assert ends is not None and len(ends) <= len(full)
        assert np.array_equal(cv2.convexHull(ends), cv2.convexHull(full))
