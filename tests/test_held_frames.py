"""The matte, effects and inpaint stages decode each sampled frame of a shot once, however many of
their batches sample it (`HeldFrames`), and what they write does not depend on it; the inpaint
stage's two holes of a frame come from one read of its masks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_matte_stage import HELD, N, ShotMatter, drawn_project
from test_pipeline_runner import Annotator, Calls, Clicker, Effects, Inpaint, Propagator, Seg

import app.pipeline.stages.common as common
from app.pipeline.frames import HeldFrames
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages.common import EFFECT_HOLE, NOT_CHARACTER, inpaint_holes
from app.store import Project

STAGES = ("matte", "effects", "inpaint")
LAYERS = ("alpha", "effects", "clean")


class ShotEffects(Effects):
    """A shot-level separator: each frame's strength is its picture id, where its red channel says."""

    def separate_shot(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], **camera: Any) -> list[np.ndarray]:
        return [(f[..., 0] == f[0, 0, 0]).astype(np.float32) * (int(f[0, 0, 0]) + 1) / 32 for f in frames]


def forced_runs(project: Project) -> tuple[dict[str, Counter[int]], dict[str, list[bytes]]]:
    """Each stage forced alone after a whole run: the frames it decoded, and the layers it wrote."""
    calls = Calls()
    backends = {
        "segmenter": Seg(calls), "matter": ShotMatter(), "inpainter": Inpaint(calls), "effects": ShotEffects(calls),
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator(),
    }
    decoded: Counter[int] = Counter()
    read = project.media.read_frame

    def counting(index: int) -> np.ndarray:
        decoded[index] += 1
        return read(index)

    project.media.read_frame = counting  # type: ignore[method-assign]
    runner = PipelineRunner(project, backends=backends).start()
    counts: dict[str, Counter[int]] = {}
    try:
        runner.submit_run().wait(60)
        assert runner.wait_idle()
        for stage in STAGES:
            project.frames.cache.clear()  # the project's own cache would hide decodes
            decoded.clear()
            runner.submit_run([stage], force=True).wait(60)
            assert runner.wait_idle()
            counts[stage] = Counter(decoded)
    finally:
        runner.stop()
    layers = {name: [np.ascontiguousarray(project.layers.read(name, f)).tobytes() for f in range(N)] for name in LAYERS}
    return counts, layers


def test_each_sampled_frame_is_decoded_once_per_stage_and_the_layers_do_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = drawn_project(tmp_path / "p")
    try:
        counts, layers = forced_runs(project)
    finally:
        project.close()
    drawings = {f for f in range(N) if f != HELD}
    for stage in STAGES:
        assert set(counts[stage]) == drawings, stage  # every drawing's first frame sampled, no held frame
        assert set(counts[stage].values()) == {1}, (stage, counts[stage])

    # Holding nothing between batches (frames decoded per batch, as before): more decodes, equal layers.
    monkeypatch.setattr(common, "HeldFrames", lambda load, batches: HeldFrames(load, batches, max_bytes=0))
    project = drawn_project(tmp_path / "q")
    try:
        unheld, same = forced_runs(project)
    finally:
        project.close()
    assert all(max(unheld[stage].values()) > 1 for stage in STAGES)
    assert same == layers


def test_held_frames_are_dropped_after_their_last_batch_and_bounded_in_bytes() -> None:
    loads: Counter[int] = Counter()

    def load(index: int) -> np.ndarray:
        loads[index] += 1
        return np.full(100, index, np.uint8)  # 100 bytes a frame

    batches = [[0, 1, 2, 3], [4, 5, 6, 7], [1, 3, 5, 8]]
    held = HeldFrames(load, batches)
    for n, batch in enumerate(batches):
        for f in batch:
            assert int(held.get(f)[0]) == f
        held.finish(n)
        assert len(held) == [2, 3, 0][n]  # 1, 3 (and 5) wait for the last batch; nothing after it
    assert set(loads.values()) == {1}

    loads.clear()
    bounded = HeldFrames(load, batches, max_bytes=250)
    for n, batch in enumerate(batches):
        for f in batch:
            assert int(bounded.get(f)[0]) == f
            assert bounded.held_bytes <= 250
        bounded.finish(n)
    assert sum(loads.values()) == 10  # some shared frame was dropped and decoded again


def test_both_inpaint_holes_come_from_one_read_of_the_masks(tmp_path: Path) -> None:
    project = drawn_project(tmp_path / "p")
    try:
        forced_runs(project)
        labels = project.masks_or_empty(7).copy()
        labels[0:4, 0:10] = project.add_object("text", kind="text").id  # burnt-in text joins the hole
        project.layers.write("masks", 7, labels)
        reads: Counter[int] = Counter()
        read = project.masks_or_empty

        def counting(frame: int) -> np.ndarray:
            reads[frame] += 1
            return read(frame)

        project.masks_or_empty = counting  # type: ignore[method-assign]
        grown, bare = inpaint_holes(project, 7)
        assert reads == Counter({7: 1})
        # The plain definition: characters and text, grown over the whole frame, with the effects.
        # Characters (every object but effects) and text: any label but an effect's.
        effect_ids = [o.id for o in project.objects.all() if o.kind in NOT_CHARACTER and o.kind != "text"]
        hiding = (labels > 0) & ~np.isin(labels, effect_ids)
        effects = project.layers.read("effects", 7)
        assert effects is not None and hiding.any()
        strong = effects >= round(EFFECT_HOLE * 255)
        for hole, grow in ((grown, 2), (bare, 0)):  # the default growth is 2 at this size
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
            want = cv2.dilate(hiding.astype(np.uint8), kernel).astype(bool) | strong
            assert np.array_equal(hole, want)
    finally:
        project.close()
