"""One analysis per shot: the camera of a shot is estimated once, stored in the project, handed to
matte, effects and inpaint, equals what those stages estimated for themselves, and makes them stale
exactly when it changes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_layer_quality import H, W, pan_shot
from test_pipeline_runner import Annotator, Calls, Clicker, Propagator

import app.pipeline.stages.shot as shot_module
import models.classical.effects as effects_module
import models.classical.inpaint as inpaint_module
from app.pipeline.graph import CAMERA_RECORD, FRESH, STAGES, STALE
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages.shot import analyse_camera
from app.store import Manifest, Project, Shot, SourceInfo
from models.base import FrameSegmentation
from models.classical.camera import estimate_camera, refine_camera
from models.classical.effects import ClassicalEffectSeparator
from models.classical.inpaint import ClassicalInpainter
from models.classical.matting import ClassicalMatter

HELD_FRAME = 4  # repeats frame 3: the camera stops for a frame over the same drawing


def _clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    first, second = pan_shot(10), pan_shot(6, walk=1.5)
    images, masks = first["image"] + second["image"], first["mask"] + second["mask"]
    images[HELD_FRAME], masks[HELD_FRAME] = images[HELD_FRAME - 1], masks[HELD_FRAME - 1]
    return images, masks


class TrueSegmenter:
    """The exact character masks (the camera, not the segmenter, is under test)."""

    def __init__(self, images: list[np.ndarray], masks: list[np.ndarray]) -> None:
        self.images, self.masks = images, masks

    def segment_shot(self, frames: Sequence[np.ndarray]) -> list[FrameSegmentation]:
        start = next(i for i, im in enumerate(self.images) if np.array_equal(im, frames[0]))
        return [FrameSegmentation(self.masks[start + i].astype(np.uint8), {1: "character"}) for i in range(len(frames))]


@pytest.fixture()
def pan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Project, PipelineRunner, dict[str, int]]]:
    images, masks = _clip()
    project = Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "h"), 16, W, H, 24.0,
                                                     shots=[Shot(0, 10), Shot(10, 16)]))
    for i, image in enumerate(images):
        project.media.write_frame(i, image)
    held = np.zeros(16, np.uint8)
    held[HELD_FRAME] = 1
    project.set_held(held)
    counts = {"analysis": 0, "estimate_in_stages": 0}

    def counted_analysis(*args: Any, **kwargs: Any) -> Any:
        counts["analysis"] += 1
        return analyse_camera(*args, **kwargs)

    def counted_estimate(*args: Any, **kwargs: Any) -> Any:
        counts["estimate_in_stages"] += 1
        return estimate_camera(*args, **kwargs)

    monkeypatch.setattr(shot_module, "analyse_camera", counted_analysis)
    monkeypatch.setattr(effects_module, "estimate_camera", counted_estimate)
    monkeypatch.setattr(inpaint_module, "estimate_camera", counted_estimate)
    calls = Calls()
    backends = {
        "segmenter": TrueSegmenter(images, masks), "matter": ClassicalMatter(), "inpainter": ClassicalInpainter(),
        "effects": ClassicalEffectSeparator(), "annotator": Annotator(calls), "clicker": Clicker(),
        "propagator": Propagator(),
    }
    runner = PipelineRunner(project, backends=backends).start()
    yield project, runner, counts
    runner.stop()
    project.close()


def _run(runner: PipelineRunner) -> None:
    runner.submit_run().wait(300)
    assert runner.wait_idle(300)


def test_the_camera_is_estimated_once_per_shot_and_shared(pan: tuple[Project, PipelineRunner, dict[str, int]]) -> None:
    project, runner, counts = pan
    _run(runner)
    for stage in STAGES:
        assert (runner.stage_status(stage) == FRESH).all(), stage
    # One analysis per shot; matte, effects and inpaint (over several sampled batches) estimated nothing.
    assert counts == {"analysis": 2, "estimate_in_stages": 0}
    record = project.layers.read_record(CAMERA_RECORD, 0)
    assert record is not None and record["inputs"]["shot"] == [0, 10]
    assert HELD_FRAME not in record["inputs"]["drawings"] and len(record["transforms"]) == 9
    # A second run finds the stored camera and every result fresh.
    _run(runner)
    assert counts == {"analysis": 2, "estimate_in_stages": 0}


def _corners(ts: list[np.ndarray]) -> np.ndarray:
    """Each frame's corners in the first frame's coordinates (the plate origin is arbitrary)."""
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], np.float64).T
    return np.stack([(np.linalg.inv(ts[0]) @ t @ corners)[:2] for t in ts])


def test_the_shot_camera_equals_the_stage_s_own_estimate() -> None:
    images, masks = _clip()
    frames, fg = images[:10], masks[:10]
    keys = [f for f in range(10) if f != HELD_FRAME]
    shared = analyse_camera([frames[f] for f in keys], [fg[f] for f in keys], keys)
    # What the inpaint stage estimated for itself on these frames (its holes are the foreground).
    own = refine_camera(frames, estimate_camera(frames, foreground=fg), fg)
    own_drawings = [own[f] for f in keys]
    error = np.abs(_corners(shared) - _corners(own_drawings)).max()
    assert error < 0.25, error
    # Both follow the true pan (4.3 px per frame to the right; the plate moves left in the frame).
    steps = np.diff(_corners(shared)[:, 0, 0]) / np.diff(keys)
    assert np.allclose(steps, 4.3, atol=0.2), steps


def test_stages_go_stale_exactly_when_the_camera_changes(pan: tuple[Project, PipelineRunner, dict[str, int]]) -> None:
    project, runner, counts = pan
    _run(runner)
    # A new segment result on one drawing (the same labels): the camera is estimated again, comes out
    # the same, and no other frame of the shot is recomputed for it.
    before = project.layers.read_record(CAMERA_RECORD, 0)
    assert before is not None
    matte_7 = project.layers.read_record("stage/matte", 7)
    labels = project.layers.read("segmentation", 2)
    assert labels is not None
    project.layers.write("segmentation", 2, labels, project.layers.meta("segmentation", 2))
    _run(runner)
    after = project.layers.read_record(CAMERA_RECORD, 0)
    assert after is not None and counts["analysis"] == 3
    assert after["digest"] == before["digest"] and after["inputs"] != before["inputs"]
    assert project.layers.read_record("stage/matte", 7) == matte_7
    # A camera that changes makes exactly the shot's matte, effects and inpaint stale.
    project.layers.write_record(CAMERA_RECORD, 0, {**after, "digest": "moved"})
    for stage in STAGES:
        codes = runner.stage_status(stage)
        if stage in ("matte", "effects", "inpaint"):
            assert (codes[:10] == STALE).all() and (codes[10:] == FRESH).all(), stage
        else:
            assert (codes == FRESH).all(), stage
