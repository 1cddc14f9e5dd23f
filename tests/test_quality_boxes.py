"""The annotate stage's per-object work runs on each object's box, not the frame: the signals must be
the ones the plain full-frame formulas give, for objects in the middle, against a frame edge (where
the edge-width shifts wrap round the frame) and touching one another."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pans import painted

from app.pipeline.stages.annotate import smallest_face
from models.classical.quality import (
    aesthetic_proxy,
    colourfulness,
    edge_width,
    object_quality,
    occlusion,
    truncation,
    view_vector,
)


def frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = painted(120, 200, 4)
    labels = np.zeros((120, 200), np.uint8)
    cv2.ellipse(labels, (100, 60), (30, 40), 0, 0, 360, 1, -1)  # in the middle
    cv2.rectangle(labels, (125, 30), (150, 90), 2, -1)  # touching object 1
    cv2.circle(labels, (5, 3), 20, 3, -1)  # cut by the top and left edges
    cv2.rectangle(labels, (170, 100), (199, 119), 4, -1)  # in the bottom right corner
    effects = np.zeros((120, 200), np.uint8)
    effects[60:70, 60:75] = 200  # a glow against object 1
    return image, labels, effects


@pytest.mark.parametrize("oid", [1, 2, 3, 4])
def test_object_signals_on_the_box_equal_the_frame_formulas(oid: int) -> None:
    image, labels, effects = frame()
    q = object_quality(image, labels, oid, faces=[(85, 30, 20, 20)], effects=effects)
    assert q is not None
    mask = labels == oid
    grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), np.uint8)
    region = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert q.blur_px == round(edge_width(grey, region), 3)
    assert q.truncation == truncation(mask)
    assert q.occlusion == occlusion(labels, oid, effects)
    assert q.view == view_vector(mask, image)
    assert q.area == mask.sum() / mask.size
    assert q.aesthetic == aesthetic_proxy(q, colourfulness(image[mask]))
    assert q.face == (oid == 1)


def test_smallest_face_is_a_share_of_the_frame_height() -> None:
    assert smallest_face(480) == 24  # the cascade's window, as before
    assert smallest_face(360) == 24
    assert smallest_face(1080) == 54
