"""The runner: every stage ends fresh, and a correction re-runs exactly the frames it affects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.pipeline.graph import FRESH, STAGES
from app.pipeline.runner import PipelineRunner
from app.store import Manifest, Project, Shot, SourceInfo
from models.base import FrameAnnotation, FrameSegmentation, Prompt, Propagation

W, H = 48, 32


class Calls(Counter[tuple[str, int]]):
    """(stage, frame) -> how often a backend computed it."""


class Seg:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def segment_shot(self, frames: Sequence[np.ndarray], **camera: Any) -> list[FrameSegmentation]:
        out = []
        for image in frames:
            self.calls["segment", int(image[0, 0, 0])] += 1
            labels = (image[..., 1] > 128).astype(np.uint8)
            out.append(FrameSegmentation(labels, {1: "character"}))
        return out


class Matter:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def matte(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.calls["matte", int(image[0, 0, 0])] += 1
        return mask.astype(np.float32)


class Inpaint:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def clean_plates(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.where(h[..., None], 0, f).astype(np.uint8) for f, h in zip(frames, holes, strict=True)]


class Effects:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def separate(self, image: np.ndarray, character_mask: np.ndarray, plate: np.ndarray | None) -> np.ndarray:
        self.calls["effects", int(image[0, 0, 0])] += 1
        return np.zeros(character_mask.shape, np.float32)


class Annotator:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def annotate(self, image: np.ndarray, labels: np.ndarray, kinds: dict[int, str]) -> FrameAnnotation:
        self.calls["annotate", int(image[0, 0, 0])] += 1
        return FrameAnnotation([f"{len(kinds)}character"], "a frame", np.ones(4, np.float32))


class Clicker:
    def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
        mask = np.zeros(image.shape[:2], bool)
        x, y, _ = prompt.points[0]
        mask[int(y) - 4 : int(y) + 4, int(x) - 4 : int(x) + 4] = True
        return mask


class Propagator:
    def propagate(self, frames: Sequence[np.ndarray], seeds: dict[int, np.ndarray], direction: str = "both") -> list[Propagation]:
        first = seeds[min(seeds)]
        return [Propagation(first.copy(), np.ones(first.shape, np.float32)) for _ in frames]


def make_project(root: Path) -> Project:
    project = Project.create(root, Manifest("p", SourceInfo("generated", "", "h"), 12, W, H, 24.0, shots=[Shot(0, 6), Shot(6, 12)]))
    for i in range(12):
        image = np.zeros((H, W, 3), np.uint8)
        image[..., 0] = i  # the frame's own index, so backends can count which frames they saw
        image[8:20, 10 + i : 22 + i, 1] = 255
        project.media.write_frame(i, image)
    return project


@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[tuple[Project, PipelineRunner, Calls]]:
    project = make_project(tmp_path / "p")
    calls = Calls()
    backends = {
        "segmenter": Seg(calls), "matter": Matter(calls), "inpainter": Inpaint(calls), "effects": Effects(calls),
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator(),
    }
    runner = PipelineRunner(project, backends=backends).start()
    yield project, runner, calls
    runner.stop()
    project.close()


def test_full_run_leaves_every_frame_fresh(setup: tuple[Project, PipelineRunner, Calls]) -> None:
    project, runner, calls = setup
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    for stage in STAGES:
        assert (runner.stage_status(stage) == FRESH).all(), stage
    masks = project.layers.read("masks", 3)
    # the segment stage's track became a registered object (the same one in both shots: it looks the same)
    found = [o for o in project.objects.all() if o.name == "Character 1"]
    assert len(found) == 1 and not found[0].confirmed
    assert masks is not None and (masks == found[0].id).sum() == 12 * 12 == (masks > 0).sum()
    later = project.layers.read("masks", 9)
    assert later is not None and (later == found[0].id).sum() == 12 * 12
    record = project.layers.read_record("annotations", 3)
    assert record is not None and record.pop("quality").keys() == {str(found[0].id)}  # signals of the one object
    assert record == {"tags": ["1character"], "caption": "a frame", "backend": "classical"}
    # a second run has nothing to do
    calls.clear()
    runner.submit_run().wait(60)
    assert sum(calls.values()) == 0


def test_click_reruns_exactly_that_frame_downstream(setup: tuple[Project, PipelineRunner, Calls]) -> None:
    project, runner, calls = setup
    runner.submit_run().wait(60)
    runner.wait_idle()
    calls.clear()
    before = project.masks_or_empty(4) == 1
    runner.submit_click(4, 1, Prompt(points=((30.0, 25.0, True),))).wait(30)
    assert runner.wait_idle()
    assert set(calls) == {("matte", 4), ("effects", 4), ("annotate", 4)}
    masks = project.layers.read("masks", 4)
    # The stand-in clicker answers a box round the click alone; a positive click keeps what the object had
    # (`interactive.one_way`), so its mask is the box and what it was.
    assert masks is not None and masks[25, 30] == 1 and np.array_equal(masks == 1, before | (masks == 1))
    assert (masks == 1).sum() > before.sum()
    for stage in STAGES:
        assert (runner.stage_status(stage) == FRESH).all(), stage


def test_propagation_and_undo_rerun_exactly_the_frames_they_change(setup: tuple[Project, PipelineRunner, Calls]) -> None:
    project, runner, calls = setup
    runner.submit_run().wait(60)
    runner.wait_idle()
    runner.submit_click(7, 1, Prompt(points=((30.0, 25.0, True),))).wait(30)
    runner.wait_idle()
    calls.clear()
    runner.submit_propagate(7, "forward").wait(30)
    assert runner.wait_idle()
    assert {f for _, f in calls} == {8, 9, 10, 11}  # the rest of shot 2, nothing across the cut
    clicked = project.masks_or_empty(7)
    assert all(np.array_equal(project.masks_or_empty(f), clicked) for f in range(8, 12))
    calls.clear()
    runner.undo().wait(30)
    assert runner.wait_idle()
    assert {f for _, f in calls} == {8, 9, 10, 11}
    assert not np.array_equal(project.masks_or_empty(9), clicked)
    assert project.corrected_frames() == {7: "user"}


def test_cancel_stops_a_batch_run(setup: tuple[Project, PipelineRunner, Calls]) -> None:
    _, runner, _ = setup
    runner.pause()
    handle = runner.submit_run()
    runner.cancel(handle.job_id)
    runner.resume()
    assert handle.wait(30)
    assert runner.wait_idle()
    assert not (runner.stage_status("annotate") == FRESH).all()


def test_propagate_flags_flicker_and_overrides_only_when_asked() -> None:
    from app.pipeline.stages import fuse_labels

    own = np.zeros((4, 4), np.uint8)
    own[1:3, 1:3] = 1
    carried = own.copy()
    carried[0, 0] = 1  # the propagation disagrees on one pixel...
    confidence = np.full((4, 4), 0.9, np.float32)
    final, sure = fuse_labels(own, carried, confidence)
    assert np.array_equal(final, own)  # ...the segment stage stays by default
    assert sure[0, 0] == pytest.approx(0.1) and sure[1, 1] == pytest.approx(0.95)
    final, sure = fuse_labels(own, carried, confidence, override=0.8)
    assert final[0, 0] == 1 and sure[0, 0] == pytest.approx(0.9)
    final, _ = fuse_labels(own, carried, confidence, override=0.95)
    assert final[0, 0] == 0


def test_batch_propagate_writes_confidence_from_the_propagator(setup: tuple[Project, PipelineRunner, Calls]) -> None:
    project, runner, _ = setup
    runner.submit_run(["segment", "propagate"]).wait(60)
    assert runner.wait_idle()
    # The fake propagator carries keyframe 0's labels unchanged; the blob moves one pixel a frame, so
    # frame 3's own labels disagree at the blob's edges and agree elsewhere.
    conf = project.layers.read("confidence", 3)
    assert conf is not None
    assert conf[10, 14] > 200 and conf[10, 10] < 60  # inside both vs. uncovered by the move
    segmentation = project.layers.read("segmentation", 3)
    assert segmentation is not None and np.array_equal(project.masks_or_empty(3), segmentation)


def test_splitting_a_shot_makes_segment_stale_only_there(setup: tuple[Project, PipelineRunner, Calls]) -> None:
    from app.ingest.shots import split_shot

    project, runner, calls = setup
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    project.set_shots(split_shot(project.shots, 9))
    stale = [f for f, code in enumerate(runner.stage_status("segment")) if code != FRESH]
    assert stale == [6, 7, 8, 9, 10, 11]
    calls.clear()
    runner.submit_run().wait(60)
    assert runner.wait_idle()
    assert {f for stage, f in calls if stage == "segment"} == set(range(6, 12))
    assert (runner.stage_status("segment") == FRESH).all()


def test_prepare_computes_embeddings_ahead_for_the_frame_and_its_neighbours(tmp_path: Path) -> None:
    import threading

    gate = threading.Event()

    class Embedding(Clicker):
        def __init__(self) -> None:
            self.prepared: list[str] = []

        def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
            gate.wait(30)  # keeps the worker busy while the prepare requests queue up
            return super().predict(image_id, image, prompt, prior)

        def precompute(self, image_id: str, image: np.ndarray) -> None:
            self.prepared.append(image_id)

    project = make_project(tmp_path / "p")
    clicker = Embedding()
    runner = PipelineRunner(project, backends={"clicker": clicker, "matter": Matter(Calls()),
                                               "effects": Effects(Calls()), "inpainter": Inpaint(Calls()),
                                               "annotator": Annotator(Calls())}).start()
    try:
        busy = runner.submit_click(0, 1, Prompt(points=((20.0, 15.0, True),)))
        first = runner.submit_prepare(2)
        second = runner.submit_prepare(5)  # the first request, still queued, is dropped
        gate.set()
        assert busy.wait(30)
        assert second.wait(30) and first.wait(30)
        assert runner.wait_idle()
        # frame 5 is the end of shot 1 (0..5): its neighbour 6 is across the cut and is skipped
        assert sorted(clicker.prepared) == ["frame-4", "frame-5"]
    finally:
        runner.stop()
        project.close()
