"""One drawing, many frames: the pipeline computes and stores each drawing once, every frame of a
hold shows its drawing's results, and a correction on a held frame reaches exactly its hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_pipeline_runner import (
    Annotator,
    Calls,
    Clicker,
    Effects,
    Inpaint,
    Matter,
    Seg,
    make_project,
)

from app.pipeline.graph import FRESH, STAGES
from app.pipeline.runner import PipelineRunner
from app.store import Project
from app.store.journal import MaskEdit
from models.base import Propagation

# Frames 1-2 repeat the drawing of frame 0, frame 4 repeats 3, 8-9 repeat 7 (shots are 0-6 and 6-12).
HELD = [0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0]
KEYS = [0, 0, 0, 3, 3, 5, 6, 7, 7, 7, 10, 11]


class CountingPropagator:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def propagate(self, frames: list[np.ndarray], seeds: dict[int, np.ndarray], direction: str = "both") -> list[Propagation]:
        self.seen += [int(f[0, 0, 0]) for f in frames]
        first = seeds[min(seeds)]
        return [Propagation(first.copy(), np.ones(first.shape, np.float32)) for _ in frames]


def _held_project(root: Path) -> Project:
    project = make_project(root)
    for f, key in enumerate(KEYS):  # a held frame is the same picture as its drawing
        if key != f:
            project.media.write_frame(f, project.frame(key))
    project.set_held(np.array(HELD, np.uint8))
    return project


@pytest.fixture()
def held(tmp_path: Path) -> Iterator[tuple[Project, PipelineRunner, Calls, CountingPropagator]]:
    project = _held_project(tmp_path / "p")
    calls = Calls()
    propagator = CountingPropagator()
    backends = {
        "segmenter": Seg(calls), "matter": Matter(calls), "inpainter": Inpaint(calls), "effects": Effects(calls),
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": propagator,
    }
    runner = PipelineRunner(project, backends=backends).start()
    yield project, runner, calls, propagator
    runner.stop()
    project.close()


def test_keys_follow_the_flags_and_the_shots(held: tuple[Project, PipelineRunner, Calls, CountingPropagator]) -> None:
    project = held[0]
    assert project.drawing_keys.tolist() == KEYS
    assert project.drawing_count == len(set(KEYS))
    assert project.hold_of(8) == range(7, 10)


def test_each_drawing_is_computed_and_stored_once(held: tuple[Project, PipelineRunner, Calls, CountingPropagator]) -> None:
    project, runner, calls, _ = held
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    for stage in STAGES:  # every frame, held ones included, is fresh
        assert (runner.stage_status(stage) == FRESH).all(), stage
    drawings = sorted(set(KEYS))
    # The batch propagation steps from drawing to drawing between its keyframes (0-5, 6-11), each
    # drawing once (the two shots may propagate at once: `runner.run_shots`).
    assert sorted(held[3].seen) == drawings
    for stage in ("matte", "annotate"):  # (a held frame's picture carries its drawing's index)
        assert {f: n for (s, f), n in calls.items() if s == stage} == dict.fromkeys(drawings, 1), stage
    for f, key in enumerate(KEYS):
        for layer in ("masks", "alpha", "clean", "effects"):
            a, b = project.layers.read(layer, f), project.layers.read(layer, key)
            assert a is not None and b is not None and np.array_equal(a, b), (layer, f)
        # stored once: the raw store has nothing for a held frame
        assert (project.layers.raw.version("alpha", f) == 0) == (key != f)
    assert project.layers.read_record("annotations", 8) == project.layers.read_record("annotations", 7)
    calls.clear()
    runner.submit_run().wait(60)
    assert sum(calls.values()) == 0  # nothing left to do


def test_correction_on_a_held_frame_reaches_its_hold_and_no_other(
    held: tuple[Project, PipelineRunner, Calls, CountingPropagator], tmp_path: Path,
) -> None:
    project, runner, _, _ = held
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    before = {f: project.masks_or_empty(f) for f in range(12)}
    after = before[8].copy()
    after[0:4, 0:4] = 1
    project.commit("correct", [MaskEdit(8, before[8], after, 1)])
    for f in range(12):
        expected = after if f in (7, 8, 9) else before[f]
        assert np.array_equal(project.masks_or_empty(f), expected), f
    root = project.root
    runner.stop()
    project.close()
    with Project.open(root) as reopened:  # replayed from the journal the same way
        for f in range(12):
            assert np.array_equal(reopened.masks_or_empty(f), after if f in (7, 8, 9) else before[f]), f


def test_propagation_steps_from_drawing_to_drawing(held: tuple[Project, PipelineRunner, Calls, CountingPropagator]) -> None:
    project, runner, _, propagator = held
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    labels = project.masks_or_empty(1)
    project.commit("correct", [MaskEdit(1, labels, np.ones_like(labels), 1)])
    propagator.seen.clear()
    runner.submit_propagate(1, "forward").wait(60)
    assert runner.wait_idle()
    # from frame 1 (it shows drawing 0) through the shot's other drawings 3 and 5 only
    assert sorted(set(propagator.seen)) == [0, 3, 5]
    for f in range(6):
        assert project.masks_or_empty(f).all(), f
    assert not project.masks_or_empty(6).all()  # never across the cut


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_weight_free_results_with_holds_equal_computing_each_drawing(tmp_path: Path) -> None:
    """An image folder whose drawings are held 1-3 frames, imported twice: once with its holds, once
    with every frame its own drawing. With holds, every held frame has exactly its drawing's layers
    and annotations, and the segment labels are what the segmenter gives the shot's drawings. Not
    equal across the two runs: the segmenter models a shot's background from the frames it is given
    (a run without holds gives it repeats of the same pictures, which weigh long-held drawings more),
    so the two differ; both are compared with the generator's exact truth instead."""
    import cv2

    from app.demo.generator import generate_shots
    from app.ingest.importer import import_source
    from app.pipeline.stages.segment import refine_labels
    from app.pipeline.stages.shot import stored_camera
    from models.classical.segmentation import ClassicalSegmenter

    video = generate_shots(31, width=192, height=108, shots=2, frames_per_shot=6)
    rng = np.random.default_rng(0)
    repeats = [int(rng.integers(1, 4)) for _ in range(len(video))]
    truth = [f.labels > 0 for f, r in zip(video, repeats, strict=True) for _ in range(r)]
    sequence = [f.image for f, r in zip(video, repeats, strict=True) for _ in range(r)]
    folder = tmp_path / "png"
    folder.mkdir()
    for i, image in enumerate(sequence):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    projects = []
    for mode in ("held", "every"):
        project = import_source(folder, tmp_path / mode)
        if mode == "every":
            project.set_held(np.zeros(project.frame_count, np.uint8))
        runner = PipelineRunner(project).start()
        try:
            runner.submit_run().wait(600)
            assert runner.wait_idle()
        finally:
            runner.stop()
        projects.append(project)
    held, every = projects
    try:
        assert held.drawing_count == 12 < held.frame_count == every.drawing_count
        for shot in held.shots:
            drawings = [f for f in range(shot.start, shot.end) if held.drawing_of(f) == f]
            # Through the shot's one camera analysis, timed by the drawings' frame indices.
            camera = stored_camera(held, shot)
            assert camera is not None
            pictures = [held.frame(f) for f in drawings]
            direct = ClassicalSegmenter().segment_shot(pictures, transforms=camera.for_frames(held, drawings, estimate=True),
                                                       times=drawings)
            # ... and the stage's second look at the labels (plate check, outline snap, borders, closed
            # cells, box blocks), the one function the stage calls.
            checked = refine_labels(pictures, [r.labels for r in direct], [dict(r.kinds) for r in direct],
                                    camera.for_frames(held, drawings))
            for f, labels in zip(drawings, checked, strict=True):
                stored = held.layers.read("segmentation", f)
                assert stored is not None and np.array_equal(stored, labels), f
        ious, on_truth, off_truth = [], [], []
        for f in range(held.frame_count):
            key = held.drawing_of(f)
            for layer in ("segmentation", "masks", "alpha", "clean", "effects"):
                a, b = held.layers.read(layer, f), held.layers.raw.read(layer, key)
                assert a is not None and b is not None and np.array_equal(a, b), (layer, f)
            assert held.layers.read_record("annotations", f) == held.layers.raw.read_record("annotations", key)
            a_fg, b_fg = held.masks_or_empty(f) > 0, every.masks_or_empty(f) > 0
            ious.append(_iou(a_fg, b_fg))
            on_truth.append(_iou(a_fg, truth[f]))
            off_truth.append(_iou(b_fg, truth[f]))
        print(f"masks foreground IoU, holds on vs every frame: min {min(ious):.3f}, mean {np.mean(ious):.3f}; "
              f"against the generator's truth: {np.mean(on_truth):.3f} with holds, {np.mean(off_truth):.3f} without")
        # As accurate as segmenting every frame (measured: 0.597 with holds, 0.591 without; the two
        # runs agree at 0.617 only, because on 192x108 frames the segmenter's own result moves that
        # much with the frames it is given - not because either is closer to the truth).
        assert np.mean(on_truth) >= np.mean(off_truth) - 0.05
    finally:
        held.close()
        every.close()


def test_small_updates_read_statuses_frame_by_frame(
    held: tuple[Project, PipelineRunner, Calls, CountingPropagator], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Staleness after a click costs what the click changed, not the project's size: the per-frame
    path gives the bulk path's codes and never reads every record of the project."""
    from app.pipeline import graph

    project, runner, _, _ = held
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    labels = project.masks_or_empty(8)
    project.commit("correct", [MaskEdit(8, labels, np.ones_like(labels), 1)])
    for stage in STAGES:
        bulk = graph.stage_status(project, stage, "classical")
        assert graph.frame_statuses(project, stage, list(range(12)), "classical") == {f: int(bulk[f]) for f in range(12)}
    monkeypatch.setattr(graph, "PER_FRAME_SHARE", 0.5)

    def whole_project(name: str) -> dict[int, dict[str, object]]:
        raise AssertionError(f"read every {name} record for a small update")

    monkeypatch.setattr(project.layers.raw, "read_records", whole_project)
    assert graph.stale_frames(project, "matte", [7, 8, 9], "classical") == [7, 8, 9]
    assert graph.stale_frames(project, "matte", [5], "classical") == []


def test_undo_history_keeps_label_maps_packed(tmp_path: Path) -> None:
    """Deleting an object across 100 frames of 640x360 keeps it undoable without holding 200 label
    maps (46 MB) in memory: the edits keep PNG bytes; before/after decode exactly on access."""
    import tracemalloc

    from app.store import Manifest, SourceInfo

    project = Project.create(tmp_path / "u", Manifest("u", SourceInfo("generated", "", "x"), 100, 640, 360, 24.0))
    hero = project.add_object("Hero")
    for f in range(100):
        labels = np.zeros((360, 640), np.uint8)
        labels[100:260, 100 + f : 300 + f] = hero.id
        project.layers.write("masks", f, labels, {"stage": "propagate"})
    tracemalloc.start()
    try:
        entry = project.delete_object(hero.id)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entry is not None and len(entry.edits) == 100
    assert retained < 8 * 2**20 and peak < 16 * 2**20, (retained, peak)
    edit = entry.edits[50]
    assert (edit.before == hero.id).sum() == 160 * 200 and not edit.after.any()
    project.undo()
    restored = project.layers.read("masks", 50)
    assert restored is not None and (restored == hero.id).sum() == 160 * 200
    project.close()
