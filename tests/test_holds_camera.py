"""One analysis per shot: the camera of a shot is estimated once, stored in the project, handed to
matte, effects and inpaint, equals what those stages estimated for themselves, and makes them stale
exactly when it changes."""

from __future__ import annotations

import threading
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
import models.classical.segmentation as segmentation_module
from app.pipeline.graph import CAMERA_RECORD, FAILED, FRESH, STAGES, STALE, record_name
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages.shot import analyse_camera, analyse_shot
from app.store import Manifest, Project, Shot, SourceInfo
from models.base import FrameSegmentation
from models.classical.camera import estimate_camera, refine_camera
from models.classical.effects import ClassicalEffectSeparator
from models.classical.inpaint import ClassicalInpainter
from models.classical.matting import ClassicalMatter
from models.classical.segmentation import ClassicalSegmenter

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

    def segment_shot(self, frames: Sequence[np.ndarray], **camera: Any) -> list[FrameSegmentation]:
        start = next(i for i, im in enumerate(self.images) if np.array_equal(im, frames[0]))
        return [FrameSegmentation(self.masks[start + i].astype(np.uint8), {1: "character"}) for i in range(len(frames))]


def _pan_project(
    root: Path, monkeypatch: pytest.MonkeyPatch, segmenter: Any = None,
) -> tuple[Project, PipelineRunner, dict[str, int]]:
    """The two-shot pan with one held frame, every camera estimate counted: ``analysis`` (the shot's
    one analysis), ``estimate_in_analysis`` (its own estimates) and ``estimate_in_stages`` (any
    estimate a stage's backend makes for itself: segmenter, effects, inpaint)."""
    images, masks = _clip()
    project = Project.create(root / "p", Manifest("p", SourceInfo("generated", "", "h"), 16, W, H, 24.0,
                                                  shots=[Shot(0, 10), Shot(10, 16)]))
    for i, image in enumerate(images):
        project.media.write_frame(i, image)
    held = np.zeros(16, np.uint8)
    held[HELD_FRAME] = 1
    project.set_held(held)
    counts = {"analysis": 0, "estimate_in_analysis": 0, "estimate_in_stages": 0}
    # Per thread: two shots' analyses may overlap (one ahead on the analysis thread, one on a stage
    # thread), and one ending must not make the other's estimate look like a stage's.
    inside = threading.local()

    def counted_analysis(*args: Any, **kwargs: Any) -> Any:
        counts["analysis"] += 1
        inside.on = True
        try:
            return analyse_shot(*args, **kwargs)
        finally:
            inside.on = False

    def counted_estimate(*args: Any, **kwargs: Any) -> Any:
        counts["estimate_in_analysis" if getattr(inside, "on", False) else "estimate_in_stages"] += 1
        return estimate_camera(*args, **kwargs)

    monkeypatch.setattr(shot_module, "analyse_shot", counted_analysis)
    monkeypatch.setattr(shot_module, "estimate_camera", counted_estimate)
    for module in (effects_module, inpaint_module, segmentation_module):
        monkeypatch.setattr(module, "estimate_camera", counted_estimate)
    calls = Calls()
    backends = {
        "segmenter": segmenter if segmenter is not None else TrueSegmenter(images, masks),
        "matter": ClassicalMatter(), "inpainter": ClassicalInpainter(),
        "effects": ClassicalEffectSeparator(), "annotator": Annotator(calls), "clicker": Clicker(),
        "propagator": Propagator(),
    }
    return project, PipelineRunner(project, backends=backends).start(), counts


@pytest.fixture()
def pan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Project, PipelineRunner, dict[str, int]]]:
    project, runner, counts = _pan_project(tmp_path, monkeypatch)
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
    assert counts["analysis"] == 2 and counts["estimate_in_stages"] == 0
    record = project.layers.read_record(CAMERA_RECORD, 0)
    assert record is not None and record["inputs"]["shot"] == [0, 10]
    assert HELD_FRAME not in record["inputs"]["drawings"] and len(record["transforms"]) == 9
    # A second run finds the stored camera and every result fresh.
    _run(runner)
    assert counts["analysis"] == 2 and counts["estimate_in_stages"] == 0


def test_a_whole_run_with_the_weight_free_segmenter_estimates_the_camera_once_per_shot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The segment stage runs after the shot's analysis and hands its camera (and the drawings' frame
    indices) to the segmenter: no backend of any stage estimates the camera again."""
    segmenter = ClassicalSegmenter(workers=1)
    seen: list[dict[str, Any]] = []
    real = segmenter.segment_shot

    def spy(frames: Sequence[np.ndarray], **camera: Any) -> Any:
        seen.append(camera)
        return real(frames, **camera)

    segmenter.segment_shot = spy  # type: ignore[method-assign,assignment]
    project, runner, counts = _pan_project(tmp_path, monkeypatch, segmenter)
    try:
        _run(runner)
        for stage in STAGES:
            assert (runner.stage_status(stage) == FRESH).all(), stage
        assert counts["analysis"] == 2 and counts["estimate_in_stages"] == 0, counts
        # The segmenter got each shot's drawings with their camera and frame indices.
        record = project.layers.read_record(CAMERA_RECORD, 0)
        assert record is not None
        assert [c["times"] for c in seen] == [record["inputs"]["drawings"], list(range(10, 16))]
        assert all(len(c["transforms"]) == len(c["times"]) for c in seen)
        # It found the walking character on the drawings (against the exact masks).
        masks = _clip()[1]
        ious = []
        for f in record["inputs"]["drawings"]:
            labels = project.layers.read("segmentation", f)
            assert labels is not None
            ious.append(float(((labels > 0) & masks[f]).sum() / max(1, ((labels > 0) | masks[f]).sum())))
        assert np.mean(ious) > 0.5, ious
    finally:
        runner.stop()
        project.close()


def _corners(ts: list[np.ndarray]) -> np.ndarray:
    """Each frame's corners in the first frame's coordinates (the plate origin is arbitrary)."""
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], np.float64).T
    return np.stack([(np.linalg.inv(ts[0]) @ t @ corners)[:2] for t in ts])


def test_the_shot_camera_equals_the_stage_s_own_estimate() -> None:
    images, masks = _clip()
    frames, fg = images[:10], masks[:10]
    keys = [f for f in range(10) if f != HELD_FRAME]
    # The shot's camera is analysed before the segment stage: from the frames alone.
    shared = analyse_camera([frames[f] for f in keys], keys)
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
    # A new segment result on one drawing (the same labels): the camera depends on no stage's result,
    # so it is not estimated again and nothing that reads it is recomputed for it.
    before = project.layers.read_record(CAMERA_RECORD, 0)
    assert before is not None and set(before["inputs"]) == {"shot", "drawings"}
    matte_7 = project.layers.read_record("stage/matte", 7)
    labels = project.layers.read("segmentation", 2)
    assert labels is not None
    project.layers.write("segmentation", 2, labels, project.layers.meta("segmentation", 2))
    _run(runner)
    assert counts["analysis"] == 2 and project.layers.read_record(CAMERA_RECORD, 0) == before
    assert project.layers.read_record("stage/matte", 7) == matte_7
    # A camera that changes makes exactly the shot's segment, matte, effects and inpaint stale (what
    # follows the segment result goes stale once it is recomputed).
    project.layers.write_record(CAMERA_RECORD, 0, {**before, "digest": "moved"})
    for stage in STAGES:
        codes = runner.stage_status(stage)
        if stage in ("segment", "matte", "effects", "inpaint"):
            assert (codes[:10] == STALE).all() and (codes[10:] == FRESH).all(), stage
        else:
            assert (codes == FRESH).all(), stage


def test_a_camera_that_cannot_be_estimated_fails_every_frame_of_the_stages_that_read_it(
    pan: tuple[Project, PipelineRunner, dict[str, int]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, runner, _ = pan

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("no features")

    monkeypatch.setattr(shot_module, "analyse_shot", broken)
    _run(runner)
    # The segment stage reads the camera first (its backend is run as the classical one): every frame
    # fails with the reason, and nothing downstream is computed from it.
    assert (runner.stage_status("segment") == FAILED).all()
    record = project.layers.read_record(record_name("segment"), 12)
    assert record is not None and record["error"] == "ValueError: no features"
    for stage in ("matte", "effects", "inpaint"):
        assert not (runner.stage_status(stage) == FRESH).any(), stage
