"""The inpaint stage reads each frame's masks and effects once for both of its holes: the same
holes as `inpaint_hole` grown (painted over) and with ``grow=0`` (what hides the background)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.pipeline.stages.common import CLOSE_RADIUS, inpaint_hole, inpaint_holes
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.labelmaps import closed_objects

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


def test_a_character_mask_is_painted_over_solid_and_its_enclosed_holes_hide_the_background(tmp_path: Path) -> None:
    # 480 rows: the closing radius is CLOSE_RADIUS px, the hole is grown by 3 (0.006 * 640, rounded).
    h, w = 480, 640
    project = Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "r"), 1, w, h, 24.0,
                                                      shots=[Shot(0, 1)]))
    try:
        project.media.write_frame(0, np.zeros((h, w, 3), np.uint8))
        labels = np.zeros((h, w), np.uint8)
        labels[100:300, 100:260] = 1
        labels[180:200, 120:150] = 0  # a lens the mask missed ...
        labels[100:180, 133:137] = 0  # ... open to the outside by a cut 4 px wide in its frame
        labels[100:300, 262:300] = 2  # another character, 2 px away
        labels[350:470, 100:400] = 1
        labels[370:450, 120:380] = 0  # a hole of half the object's area: background between limbs
        project.layers.write("masks", 0, labels)
        hole, hidden = inpaint_holes(project, 0)
        assert hole[190, 135] and hidden[190, 135]  # the lens: painted over, and no source's background
        # The cut is painted over, but a source frame may show background there.
        assert hole[150, 135] and not hidden[150, 135]
        assert np.array_equal(hole, inpaint_hole(project, 0)) and np.array_equal(hidden, inpaint_hole(project, 0, 0))
        assert not hole[410, 250] and not hidden[410, 250]  # the large hole stays background
        # Object by object: the background between two characters is not closed over.
        solid, enclosed = closed_objects(labels, [1, 2], CLOSE_RADIUS)
        assert solid[150, 135] and not solid[200, 261] and not enclosed[150, 135] and enclosed[190, 135]
    finally:
        project.close()
