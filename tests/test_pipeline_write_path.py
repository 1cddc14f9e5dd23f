"""One write path and one change event: what the pipeline computes (a batch stage's results, an
interactive propagation's streamed chunks) reaches the store through the runner's write queue, a
correction through the journal, and each write is announced once, by the store."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_pipeline_runner import Annotator, Calls, Clicker, Effects, Inpaint, Matter, Seg, make_project

from app.errors import ProjectError
from app.pipeline.events import JobFinished, JobProgress, PipelineEvent
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import LayerWritten, MaskEdit, Project
from app.store.layers import LayerStore
from models.base import Propagation

H, W = 32, 48


class Shifting:
    """Carries the seed one pixel right per frame, with confidence 0.5; ``on_call`` runs first."""

    def __init__(self, on_call: Any = None) -> None:
        self.on_call = on_call

    def propagate(self, frames: Sequence[np.ndarray], seeds: dict[int, np.ndarray], direction: str = "both") -> list[Propagation]:
        if self.on_call is not None:
            self.on_call()
        first = seeds[min(seeds)]
        return [Propagation(np.roll(first, i, axis=1), np.full(first.shape, 0.5, np.float32)) for i in range(len(frames))]


def _seeded(root: Path) -> Project:
    project = make_project(root)  # two shots: 0..5 and 6..11
    seed = np.zeros((H, W), np.uint8)
    seed[8:20, 10:22] = 1
    project.commit("brush", [MaskEdit(0, np.zeros_like(seed), seed, 1)])
    return project


@pytest.fixture()
def writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, int, str]]]:
    """Every layer write: (thread, layer, frame, source)."""
    seen: list[tuple[str, str, int, str]] = []
    real = LayerStore.write

    def write(self: LayerStore, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> int:
        seen.append((threading.current_thread().name, layer, frame, str((meta or {}).get("source", ""))))
        return real(self, layer, frame, array, meta)

    monkeypatch.setattr(LayerStore, "write", write)
    yield seen


def _runner(project: Project, propagator: Any) -> PipelineRunner:
    calls = Calls()
    backends = {"propagator": propagator, "clicker": Clicker(), "matter": Matter(calls), "effects": Effects(calls),
                "inpainter": Inpaint(calls), "annotator": Annotator(calls), "segmenter": Seg(calls)}
    return PipelineRunner(project, PipelineSettings(propagation_chunk=2), backends=backends).start()


def test_streamed_propagation_goes_through_the_write_queue_and_lands_before_its_commit(
    tmp_path: Path, writes: list[tuple[str, str, int, str]]
) -> None:
    project = _seeded(tmp_path / "p")
    runner = _runner(project, Shifting())
    try:
        writes.clear()
        assert runner.submit_propagate(0, "forward").wait(30) and runner.wait_idle()
        streamed = [(t, layer, f) for t, layer, f, source in writes if source == "pipeline" and layer in ("masks", "confidence")]
        assert sorted({(layer, f) for _, layer, f in streamed}) == [(layer, f) for layer in ("confidence", "masks") for f in range(1, 6)]
        assert {t for t, _, _ in streamed} == {"pipeline-writer"}  # never written from the worker directly
        journalled = [f for _, layer, f, source in writes if layer == "masks" and source == "accepted"]
        assert journalled == [1, 2, 3, 4, 5]
        last_masks_write = {f: source for _, layer, f, source in writes if layer == "masks" and f in range(1, 6)}
        assert set(last_masks_write.values()) == {"accepted"}  # no streamed write landed after the commit's
        for f in range(1, 6):
            assert project.layers.meta("masks", f)["source"] == "accepted"
            assert np.array_equal(project.masks_or_empty(f), np.roll(project.masks_or_empty(0), f, axis=1))
            confidence = project.layers.read("confidence", f)
            assert confidence is not None and int(confidence[0, 0]) == 128
        assert project.journal.entries[-1].kind == "propagate" and project.journal.entries[-1].frames == (1, 2, 3, 4, 5)
    finally:
        runner.stop()
        project.close()


def test_each_write_is_announced_once(tmp_path: Path) -> None:
    project = _seeded(tmp_path / "p")
    runner = _runner(project, Shifting())
    announced: Counter[tuple[str, int]] = Counter()
    other: list[PipelineEvent] = []

    def on_store(event: object) -> None:
        if isinstance(event, LayerWritten):
            announced[event.layer, event.frame] += 1

    def on_runner(event: PipelineEvent) -> None:
        if not isinstance(event, (JobProgress, JobFinished)):
            other.append(event)
        # anything that names frames and a layer would be a second announcement of a write
        if hasattr(event, "layer") and hasattr(event, "frames"):
            announced[event.layer, -1] += 1  # type: ignore[union-attr]

    before = {layer: project.layers.versions(layer).copy() for layer in ("masks", "confidence", "segmentation", "alpha")}
    project.events.subscribe(on_store)
    runner.subscribe(on_runner)
    try:
        assert runner.submit_run().wait(60) and runner.wait_idle()
        assert runner.submit_propagate(6, "forward").wait(30) and runner.wait_idle()
        for layer, versions in before.items():
            bumped = project.layers.versions(layer) - versions
            for f in range(project.frame_count):
                assert announced[layer, f] == bumped[f], (layer, f)
            assert announced[layer, -1] == 0
        assert bumped.sum() > 0 and other == []
    finally:
        runner.stop()
        project.close()


def test_a_cancelled_propagation_keeps_what_it_showed_as_one_undoable_edit(tmp_path: Path) -> None:
    project = _seeded(tmp_path / "p")
    runner: PipelineRunner

    def cancel_me() -> None:
        for job in runner.jobs():
            if job.kind == "propagate":
                runner.cancel(job.job_id)

    runner = _runner(project, Shifting(on_call=cancel_me))
    finished: list[JobFinished] = []
    runner.subscribe(lambda e: finished.append(e) if isinstance(e, JobFinished) and e.kind == "propagate" else None)
    try:
        assert runner.submit_propagate(0, "forward").wait(30) and runner.wait_idle()
        assert [e.status for e in finished] == ["cancelled"]
        entry = project.journal.entries[-1]
        assert entry.kind == "propagate" and entry.frames == (1, 2)  # the first chunk, shown before the cancel
        for f in (1, 2):
            assert project.layers.meta("masks", f)["source"] == "accepted" and (project.masks_or_empty(f) == 1).any()
        for f in (3, 4, 5):
            assert project.layers.read("masks", f) is None
        assert runner.undo().wait(30) and runner.wait_idle()
        for f in (1, 2):
            assert not project.masks_or_empty(f).any()
    finally:
        runner.stop()
        project.close()


def test_a_write_failing_mid_propagation_puts_every_shown_frame_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _seeded(tmp_path / "p")
    earlier = np.full((H, W), 1, np.uint8)
    for f in (1, 2):  # an earlier pipeline result; frames 3.. have none
        project.layers.write("masks", f, earlier, {"source": "pipeline", "stage": "propagate", "backend": "old"})
    real = LayerStore.write

    def failing(self: LayerStore, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> int:
        if layer == "confidence" and frame == 3:
            raise ProjectError("Writing frame 3 of layers/confidence to layers.h5 failed (injected).")
        return real(self, layer, frame, array, meta)

    monkeypatch.setattr(LayerStore, "write", failing)
    runner = _runner(project, Shifting())
    finished: list[JobFinished] = []
    runner.subscribe(lambda e: finished.append(e) if isinstance(e, JobFinished) and e.kind == "propagate" else None)
    forgotten: list[int] = []
    project.events.subscribe(lambda e: forgotten.append(e.frame) if isinstance(e, LayerWritten) and e.version == 0 else None)
    seq = project.journal.last_seq
    try:
        assert runner.submit_propagate(0, "forward").wait(30) and runner.wait_idle()
        assert [e.status for e in finished] == ["failed"] and "frame 3 of layers/confidence" in finished[0].message
        assert project.journal.last_seq == seq  # nothing journalled
        for f in (1, 2):
            assert np.array_equal(project.masks_or_empty(f), earlier)
            assert project.layers.meta("masks", f)["backend"] == "old"
        for f in (3, 4, 5):
            assert project.layers.read("masks", f) is None
        assert {3, 4} <= set(forgotten)  # the views hear that frames 3 and 4 lost what was shown
    finally:
        runner.stop()
        project.close()


def test_a_propagator_failing_mid_propagation_puts_every_shown_frame_back(tmp_path: Path) -> None:
    project = _seeded(tmp_path / "p")
    calls = [0]

    def crash_on_second_chunk() -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("out of memory (injected)")

    runner = _runner(project, Shifting(on_call=crash_on_second_chunk))
    finished: list[JobFinished] = []
    runner.subscribe(lambda e: finished.append(e) if isinstance(e, JobFinished) and e.kind == "propagate" else None)
    seq = project.journal.last_seq
    try:
        assert runner.submit_propagate(0, "forward").wait(30) and runner.wait_idle()
        assert [e.status for e in finished] == ["failed"] and "injected" in finished[0].message
        assert project.journal.last_seq == seq
        for f in range(1, 6):  # chunk [1, 2] was shown, then taken back
            assert project.layers.read("masks", f) is None, f
    finally:
        runner.stop()
        project.close()


def test_undoing_a_propagation_gives_each_frame_back_its_earlier_source(tmp_path: Path) -> None:
    project = _seeded(tmp_path / "p")
    runner = _runner(project, Shifting())
    try:
        assert runner.submit_propagate(0, "forward").wait(30) and runner.wait_idle()
        assert runner.submit_propagate(0, "forward").wait(30) and runner.wait_idle()
        # the second propagation replaced accepted masks, not pipeline ones (the streamed chunks
        # rewrite the meta before the journal entry is made)
        assert {e.before_source for e in project.journal.entries[-1].edits} == {"accepted"}
        assert runner.undo().wait(30) and runner.wait_idle()
        assert project.layers.meta("masks", 3)["source"] == "accepted"
    finally:
        runner.stop()
        project.close()
