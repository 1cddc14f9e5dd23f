"""The inpaint stage reads each frame's masks and effects once for both of its holes: the same
holes as `inpaint_hole` grown (painted over) and with ``grow=0`` (what hides the background)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.pipeline.stages.common import inpaint_hole, inpaint_holes
from app.store import Manifest, Project, Shot, SourceInfo

H, W = 90, 160


def test_both_holes_from_one_read_are_inpaint_hole_with_and_without_growing(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "r"), 2, W, H, 24.0,
                                                      shots=[Shot(0, 2)]))
    try:
        for f in range(2):
            project.media.write_frame(f, np.zeros((H, W, 3), np.uint8))
            labels = np.zeros((H, W), np.uint8)
            cv2.ellipse(labels, (50 + 20 * f, 45), (18, 30), 10, 0, 360, 1, -1)
            labels[5:9, 100:150] = 2
            project.layers.write("masks", f, labels)
        effects = np.zeros((H, W), np.uint8)
        effects[60:80, 110:150] = 200  # painted out
        effects[20:30, 10:30] = 40  # too faint to paint out
        project.layers.write("effects", 0, effects)  # frame 1 has no effects yet
        for f in range(2):
            hole, hidden = inpaint_holes(project, f)
            assert np.array_equal(hole, inpaint_hole(project, f))
            assert np.array_equal(hidden, inpaint_hole(project, f, 0))
            assert hole.sum() > hidden.sum()  # the grown one is grown
        assert inpaint_holes(project, 0)[1][70, 130] and not inpaint_holes(project, 1)[1][70, 130]
    finally:
        project.close()
