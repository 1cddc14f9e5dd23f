"""A merge re-runs only what it changes (round 13): on a clip imported from an mp4, a merge of two
characters leaves the matte, the effects and the plate as they were (the characters' union, the text
and the holes are the same) and re-runs annotate alone; moving text into a character re-runs them all.
What is carried is what a full re-run writes."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stage_steps import count_steps

from app.pipeline.graph import DOWNSTREAM_OF_MASKS, FRESH, record_name
from app.pipeline.runner import PipelineRunner
from app.store import Project

pytest.importorskip("av")

OUTPUTS = ("alpha", "effects", "effect_colour", "clean", "plate_confidence")


def _tracked(root: Path) -> tuple[int, int]:
    """Two characters of stage 1 on the imported clip, both in both shots, and every stage run."""
    with Project.open(root) as p:
        for f in range(p.frame_count):
            seg = np.zeros((p.height, p.width), np.uint8)
            seg[20:70, 10 + f:50 + f] = 1
            seg[30:80, 100 - f:140 - f] = 2
            p.layers.write("segmentation", f, seg, {"source": "pipeline"})
        first = p.objects.register_shot(0, {1: "character", 2: "character"})
        p.objects.register_shot(6, {1: "character", 2: "character"}, {1: first[1], 2: first[2]})
        for f in range(p.frame_count):
            stored = p.layers.read("segmentation", f)
            assert stored is not None
            p.layers.write("masks", f, p.objects.to_objects(p.shot_of(f).start, f, stored), {"source": "pipeline"})
        runner = PipelineRunner(p).start()
        try:
            assert runner.submit_run(list(DOWNSTREAM_OF_MASKS)).wait(300) and runner.wait_idle(120)
        finally:
            runner.stop()
        return first[1], first[2]


def _edit(root: Path, edit: Any, monkeypatch: pytest.MonkeyPatch, *, app: bool = True) -> Counter[str]:
    """Run ``edit(project)`` as the app does (`submit_object_edit`), or only in the store with every stale
    frame then re-run (``app=False``: a full re-run). Returns the frames each stage computed."""
    steps = count_steps(monkeypatch)
    with Project.open(root) as p:
        runner = PipelineRunner(p).start()
        try:
            if app:
                runner.submit_object_edit(edit)
            else:
                edit(p)
                runner.submit_run(list(DOWNSTREAM_OF_MASKS))
            assert runner.wait_idle(300)
            for stage in DOWNSTREAM_OF_MASKS:
                assert (runner.stage_status(stage) == FRESH).all(), stage
        finally:
            runner.stop()
    monkeypatch.undo()
    return steps


def _stored(root: Path) -> dict[str, Any]:
    with Project.open(root) as p:
        out: dict[str, Any] = {layer: [p.layers.read(layer, f) for f in range(p.frame_count)] for layer in OUTPUTS}
        out["annotations"] = [p.layers.read_record("annotations", f) for f in range(p.frame_count)]
        out["carried"] = {stage: sorted(f for f, r in p.layers.read_records(record_name(stage)).items() if "carried" in r)
                          for stage in DOWNSTREAM_OF_MASKS}
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for layer in (*OUTPUTS, "annotations"):
        for f, (x, y) in enumerate(zip(a[layer], b[layer], strict=True)):
            assert (x is None) == (y is None), (layer, f)
            if isinstance(x, np.ndarray):
                assert np.array_equal(x, y), (layer, f)
            else:
                assert x == y, (layer, f)


def test_a_merge_of_two_characters_reruns_annotate_alone_and_leaves_what_a_full_rerun_writes(
        imported_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _tracked(imported_project)
    full = tmp_path / "full"
    shutil.copytree(imported_project, full)

    steps = _edit(imported_project, lambda p: p.objects.merge(a, b), monkeypatch)
    assert steps == {"annotate": 12}  # was matte, effects, inpaint and annotate on all 12 frames
    assert _edit(full, lambda p: p.objects.merge(a, b), monkeypatch, app=False) == {s: 12 for s in DOWNSTREAM_OF_MASKS}
    carried, rerun = _stored(imported_project), _stored(full)
    assert carried["carried"] == {"matte": list(range(12)), "effects": list(range(12)), "inpaint": list(range(12)),
                                  "annotate": []}
    _same(carried, rerun)  # the carried matte, effects and plates are what the re-run wrote

    # Undo (a relabel back) carries them again; the masks are as stage 1 made them.
    steps = _edit(imported_project, lambda p: p.undo(), monkeypatch)
    assert steps == {"annotate": 12}


def test_text_moved_into_a_character_reruns_every_stage_it_changes(
        imported_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _tracked(imported_project)
    with Project.open(imported_project) as p:
        p.objects.set_kind(b, "text")
    # The kinds changed with no map rewritten, so the stages are re-run first (they read the kinds).
    with Project.open(imported_project) as p:
        runner = PipelineRunner(p).start()
        try:
            assert runner.submit_run(list(DOWNSTREAM_OF_MASKS), force=True).wait(300) and runner.wait_idle(120)
        finally:
            runner.stop()
    steps = _edit(imported_project, lambda p: p.objects.merge(a, b, allow_kinds=True), monkeypatch)
    # The text's pixels are now the character's: its union, the text and the plate's holes all change.
    assert steps == {s: 12 for s in DOWNSTREAM_OF_MASKS}
    assert all(not v for v in _stored(imported_project)["carried"].values())


def test_three_undos_in_a_row_queue_one_rerun_of_their_frames(
        imported_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each undo queued its own re-run of the frames it changed, one job after another (the Jobs panel
    listed them all); re-runs of the same stages not started yet are one job now, with every frame."""
    import threading

    from app.pipeline.events import JobFinished

    a, _ = _tracked(imported_project)
    with Project.open(imported_project) as p:
        runner = PipelineRunner(p).start()
        try:
            for k, frame in enumerate((2, 3, 4)):
                stroke = np.zeros((p.height, p.width), bool)
                stroke[5 + 4 * k:12 + 4 * k, 60:90] = True
                runner.submit_brush(frame, a, stroke)
            assert runner.wait_idle(120)
            steps = count_steps(monkeypatch)
            ended: list[str] = []
            runner.subscribe(lambda ev: ended.append(ev.kind) if isinstance(ev, JobFinished) else None)
            busy = threading.Event()
            runner.submit_object_edit(lambda _p: busy.wait(30), "busy")  # the three Ctrl+Z wait behind it
            for _ in range(3):
                runner.undo()
            busy.set()
            assert runner.wait_idle(120)
            assert ended.count("undo") == 3 and ended.count("update") == 1, ended  # was 3 updates
            assert steps == {s: 3 for s in DOWNSTREAM_OF_MASKS}  # frames 2, 3, 4 once each
            for stage in DOWNSTREAM_OF_MASKS:
                assert (runner.stage_status(stage) == FRESH).all(), stage
            assert not any(e.kind == "brush" for e in p.journal.entries if e.seq in p.history.done)
        finally:
            runner.stop()
