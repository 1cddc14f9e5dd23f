"""The same shot gives the same stage-1 result however many threads OpenCV has free (two runs of one
clip used to differ: the face cascade's candidates arrive from OpenCV's threads and are grouped in
arrival order)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.batch.clips import write_generated_clip
from app.sources.source import open_source
from models.classical.faces import AnimeFaceDetector
from models.classical.segmentation import ClassicalSegmenter


@pytest.fixture()
def cv_threads() -> Iterator[int]:
    threads = cv2.getNumThreads()
    yield threads
    cv2.setNumThreads(threads)


@pytest.mark.skipif(not AnimeFaceDetector().available, reason="the anime face cascade is not installed")
def test_stage_one_does_not_depend_on_opencv_threads(tmp_path: Path, cv_threads: int) -> None:
    clip = write_generated_clip(tmp_path / "c.mp4", 7, width=320, height=180, shots=3, frames_per_shot=10)
    frames = list(open_source(clip))[:10]
    cv2.setNumThreads(max(2, cv_threads))
    many = [r.labels for r in ClassicalSegmenter(workers=1).segment_shot(frames)]
    cv2.setNumThreads(1)
    one = [r.labels for r in ClassicalSegmenter(workers=1).segment_shot(frames)]
    assert all(np.array_equal(a, b) for a, b in zip(many, one, strict=True))
    assert cv2.getNumThreads() == 1  # detection put back the caller's setting
