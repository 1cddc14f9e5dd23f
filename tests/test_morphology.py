"""The disc morphology the matte uses equals OpenCV's, pixel for pixel, borders included."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.classical import morphology


@pytest.mark.parametrize("radius", [1, 4, 12, 36])
def test_disc_dilation_and_erosion_equal_opencv(radius: int) -> None:
    rng = np.random.default_rng(radius)
    kernel = morphology.disc(radius)
    blobs = (cv2.GaussianBlur(rng.random((157, 203)).astype(np.float32), (0, 0), 4) > 0.5).astype(np.uint8)
    blobs[0, :] = blobs[:, -1] = 1  # touching the image's edge
    grey = rng.integers(0, 256, (90, 140), dtype=np.uint8)
    for image in (blobs, grey, blobs[:5]):
        assert np.array_equal(morphology.dilate(image, kernel), cv2.dilate(image, kernel))
        assert np.array_equal(morphology.erode(image, kernel), cv2.erode(image, kernel))


def test_other_kernels_go_to_opencv() -> None:
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.uint8)
    image = (np.random.default_rng(0).random((40, 50)) > 0.8).astype(np.uint8)
    assert np.array_equal(morphology.dilate(image, kernel), cv2.dilate(image, kernel))
