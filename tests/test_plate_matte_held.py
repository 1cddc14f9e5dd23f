"""The clean plate paints over what the frame's matte holds as character, not only what the masks
label (issue #16 section 2): a still character whose masks leave its lenses unlabelled (open to the
outside through the unlabelled rims and temples, as Coby's in onepiece_demo.mp4) while the matte
fills them gets a plate without the lenses' colour."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_plate_matte_lends import H, W, textured_backdrop

from app.pipeline.runner import PipelineRunner
from app.pipeline.stages.common import MATTE_HELD, inpaint_sources
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.inpaint import ClassicalInpainter

N = 6
SKIN, LENS, RIM = (235, 190, 150), (40, 90, 250), (25, 20, 40)
CENTRE, RADIUS = (240, 135), 60
LENSES = ((215, 125), (265, 125))


def face(img: np.ndarray, mouth: int) -> tuple[np.ndarray, np.ndarray]:
    """A face with glasses drawn on ``img``; the masks (the lenses, the rims and a temple strip to the
    face's edge left unlabelled) and the matte (the whole face opaque)."""
    cv2.circle(img, CENTRE, RADIUS, SKIN, -1)
    cv2.circle(img, CENTRE, RADIUS, RIM, 2)
    for c in LENSES:
        cv2.circle(img, c, 18, LENS, -1)
        cv2.circle(img, c, 18, RIM, 4)
    cv2.line(img, (220, 170), (260, 170 + mouth), RIM, 2)  # the mouth moves: every frame a drawing
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, CENTRE, RADIUS, 1, -1)
    for c in LENSES:
        cv2.circle(mask, c, 21, 0, -1)
    mask[119:131, 150:320] = 0  # the temples and the bridge: the lenses join the outside
    alpha = np.zeros((H, W), np.uint8)
    cv2.circle(alpha, CENTRE, RADIUS + 1, 255, -1)
    return mask.astype(bool), alpha


def glasses_project(root: Path, matte: bool = True) -> Project:
    project = Project.create(root, Manifest("p", SourceInfo("generated", "", "r"), N, W, H, 24.0, shots=[Shot(0, N)]))
    wall = textured_backdrop()
    person = project.add_object("someone").id
    for f in range(N):
        img = wall.copy()
        mask, alpha = face(img, 2 * f)
        project.media.write_frame(f, img)
        project.layers.write("masks", f, np.where(mask, person, 0).astype(np.uint8))
        if matte:
            project.layers.write("alpha", f, alpha)
        project.layers.write("effects", f, np.zeros((H, W), np.uint8))
    return project


def lens_coloured(plate: np.ndarray) -> np.ndarray:
    return np.abs(plate.astype(int) - np.array(LENS)).max(axis=2) <= 40


def test_a_plate_holds_no_lens_the_matte_fills_and_the_masks_leave_out(tmp_path: Path) -> None:
    project = glasses_project(tmp_path / "p")
    runner = PipelineRunner(project, backends={"inpainter": ClassicalInpainter()}).start()
    try:
        runner.submit_run(["inpaint"], force=True).wait(120)
        assert runner.wait_idle()
        frame = np.asarray(project.frame(0))
        lenses = lens_coloured(frame)
        assert lenses.sum() > 1000 and not project.masks_or_empty(0)[lenses].any()
        for f in range(N):
            plate = project.layers.read("clean", f)
            assert plate is not None
            assert lens_coloured(plate).sum() == 0, f
        # What hides the background takes the matte's face whole: a source lends none of the lenses.
        hole, hidden, clear = inpaint_sources(project, 0)
        alpha = project.layers.read("alpha", 0)
        assert alpha is not None
        held = alpha >= MATTE_HELD
        assert hole[held].all() and hidden[held].all() and not clear[held].any()
    finally:
        runner.stop()
        project.close()


def test_before_the_matte_has_run_the_masks_alone_make_the_hole(tmp_path: Path) -> None:
    project = glasses_project(tmp_path / "p", matte=False)
    try:
        lenses = lens_coloured(np.asarray(project.frame(0)))
        hole, hidden, _ = inpaint_sources(project, 0)
        assert not hole[lenses].any() and not hidden[lenses].any()  # the lenses join the outside
        project.layers.write("alpha", 0, face(np.zeros((H, W, 3), np.uint8), 0)[1])
        hole, hidden, _ = inpaint_sources(project, 0)
        assert hole[lenses].all() and hidden[lenses].all()
    finally:
        project.close()
