"""Repeated drawings: a drawing that shows the same picture as an earlier drawing of its shot (a mouth
flap between two drawings, a cycle) is computed once, and shares that result exactly while its
inputs equal the earlier drawing's; a correction on a repeat makes it a drawing of its own again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_pipeline_runner import Annotator, Calls, Clicker, Effects, H, Inpaint, Matter, Propagator, Seg, W

from app.pipeline.graph import FRESH, PICTURES_RECORD, SHARE_REPEATS, STAGES
from app.pipeline.runner import PipelineRunner
from app.store import Manifest, Project, Shot, SourceInfo
from app.store.journal import MaskEdit
from models.classical.drawings import repeats

# The picture each frame shows. Shot 0-6 cycles 0 1 0 1 and ends on 2; shot 6-12 cycles 3 4 3 4.
# Frame 4 holds frame 3's drawing, frames 10-11 hold frame 9's.
PICTURES = [0, 1, 0, 1, 1, 2, 3, 4, 3, 4, 4, 4]
HELD = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]
# The first drawing of each picture in its shot, per drawing (held frames: their drawing's).
FIRST = {0: 0, 1: 1, 2: 0, 3: 1, 5: 5, 6: 6, 7: 7, 8: 6, 9: 7}


def _picture(p: int) -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = p  # the picture's id, so the counting backends say which picture they saw
    x = 4 + 8 * p % 32
    image[6 + p : 22, x : x + 12, 1] = 255
    return image


def _project(root: Path, share: bool = True) -> Project:
    project = Project.create(
        root, Manifest("p", SourceInfo("generated", "", "r"), 12, W, H, 24.0, shots=[Shot(0, 6), Shot(6, 12)])
    )
    for f, p in enumerate(PICTURES):
        project.media.write_frame(f, _picture(p))
    project.set_held(np.array(HELD, np.uint8))
    if not share:
        project.manifest.settings[SHARE_REPEATS] = False
        project.save_manifest()
    return project


def _runner(project: Project, calls: Calls) -> PipelineRunner:
    backends = {
        "segmenter": Seg(calls), "matter": Matter(calls), "inpainter": Inpaint(calls), "effects": Effects(calls),
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator(),
    }
    return PipelineRunner(project, backends=backends).start()


@pytest.fixture()
def cycled(tmp_path: Path) -> Iterator[tuple[Project, PipelineRunner, Calls]]:
    project = _project(tmp_path / "p")
    calls = Calls()
    runner = _runner(project, calls)
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    yield project, runner, calls
    runner.stop()
    project.close()


LAYERS = ("segmentation", "masks", "alpha", "effects", "clean")


def test_repeats_of_a_picture_are_found_by_the_hold_test() -> None:
    assert repeats([_picture(p) for p in (0, 1, 0, 1, 2, 0)]) == [0, 1, 0, 1, 4, 0]


def test_repeats_survive_compression_noise() -> None:
    """Two different JPEG encodings of one cel are one picture; the cel with a changed mouth is not."""
    rng = np.random.default_rng(3)
    cel = np.full((120, 160, 3), 200, np.uint8)
    cv2.circle(cel, (80, 60), 40, (240, 190, 160), -1)
    cv2.circle(cel, (80, 60), 40, (20, 20, 20), 2)
    cel = np.clip(cel.astype(np.int16) + rng.integers(-3, 4, cel.shape), 0, 255).astype(np.uint8)
    talking = cel.copy()
    cv2.ellipse(talking, (80, 75), (10, 6), 0, 0, 360, (30, 10, 10), -1)

    def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return np.asarray(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), np.uint8)

    assert repeats([jpeg(cel, 95), jpeg(talking, 90), jpeg(cel, 80), jpeg(talking, 95)]) == [0, 1, 0, 1]


def test_each_picture_is_computed_once_and_repeats_share_its_results(cycled: tuple[Project, PipelineRunner, Calls]) -> None:
    project, runner, calls = cycled
    for stage in STAGES:
        assert (runner.stage_status(stage) == FRESH).all(), stage
    # Shot 0 has 5 drawings of 3 pictures, shot 1 4 drawings of 2: each picture computed once. The
    # segmenter still sees every drawing (its model of the shot needs them), and each repeat takes
    # the labels of its picture's first drawing.
    for stage in ("matte", "effects", "annotate"):
        assert {p: calls[stage, p] for p in range(5)} == dict.fromkeys(range(5), 1), stage
    drawings = [PICTURES[d] for d in FIRST]
    assert {p: calls["segment", p] for p in range(5)} == {p: drawings.count(p) for p in range(5)}
    record = project.layers.read_record(PICTURES_RECORD, 0)
    assert record is not None and record["pictures"] == [0, 1, 0, 1, 5]
    for f in range(12):
        first = FIRST[project.drawing_of(f)]
        for layer in LAYERS:
            a, b = project.layers.read(layer, f), project.layers.read(layer, first)
            assert a is not None and b is not None and np.array_equal(a, b), (layer, f)
        assert project.layers.read_record("annotations", f) == project.layers.read_record("annotations", first)
    # The first drawings' own results are what the backends make of their picture.
    for f in (0, 1, 5, 6, 7):
        labels = project.layers.read("segmentation", f)
        assert labels is not None and np.array_equal(labels, (_picture(PICTURES[f])[..., 1] > 128).astype(np.uint8))


def test_a_correction_on_a_repeat_makes_it_a_drawing_of_its_own(cycled: tuple[Project, PipelineRunner, Calls]) -> None:
    """Frames 0 and 2 show one picture. Corrected differently, both are recomputed, each for its own
    mask; corrected alike, they share one computation again."""
    project, runner, calls = cycled
    before = {f: project.masks_or_empty(f) for f in range(12)}
    alpha_before = {f: _read(project, "alpha", f) for f in range(12)}
    at_0, at_2 = before[0].copy(), before[2].copy()
    at_0[28:32, 40:48] = 1
    at_2[0:4, 0:4] = 1
    project.commit("correct", [MaskEdit(0, before[0], at_0, 1), MaskEdit(2, before[2], at_2, 1)])
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    for stage in STAGES:
        assert (runner.stage_status(stage) == FRESH).all(), stage
    assert calls["matte", 0] == 3  # once for the three drawings of picture 0, then once each
    for f, mask in ((0, at_0), (2, at_2)):
        assert np.array_equal(_read(project, "alpha", f) > 0, mask > 0), f
    for f in range(12):
        if f not in (0, 2):
            assert np.array_equal(_read(project, "alpha", f), alpha_before[f]), f
    same = at_0 | at_2
    project.commit("correct alike", [MaskEdit(0, at_0, same, 1), MaskEdit(2, at_2, same, 1)])
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    assert calls["matte", 0] == 4
    assert np.array_equal(_read(project, "alpha", 0), _read(project, "alpha", 2))
    assert np.array_equal(_read(project, "alpha", 2) > 0, same > 0)


def _read(project: Project, layer: str, frame: int) -> np.ndarray:
    array = project.layers.read(layer, frame)
    assert array is not None, (layer, frame)
    return array


def test_without_sharing_every_drawing_is_computed(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", share=False)
    calls = Calls()
    runner = _runner(project, calls)
    try:
        runner.submit_run().wait(60)
        assert runner.wait_idle()
    finally:
        runner.stop()
    try:
        # 9 drawings (3 of picture 0, 2 of picture 1...): each computed, held frames still shared.
        drawings = [PICTURES[d] for d in FIRST]
        for stage in ("segment", "matte", "effects", "annotate"):
            assert {p: calls[stage, p] for p in range(5)} == {p: drawings.count(p) for p in range(5)}, stage
    finally:
        project.close()
