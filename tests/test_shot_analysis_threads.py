"""The shot analysis keeps both cores busy without changing its result: the camera refinement aligns
a round's frames on threads, the background model's support test runs in integers, and a batch run
analyses the next shot's camera while the current shot computes; all give bit for bit what the
one-thread code gave."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from test_holds_camera import _pan_project
from test_layer_quality import pan_shot

import app.pipeline.stages.shot as shot_module
import models.classical.camera as camera_module
from app.pipeline.frames import ShotFrames
from app.pipeline.graph import CAMERA_RECORD, FRESH, STAGES
from app.pipeline.stages.shot import ShotAnalyses
from models.classical.background import K3, _box_excess_u8, _box_within_u8, excess
from models.classical.camera import refine_camera


def _shifted_estimate(n: int) -> list[np.ndarray]:
    """The pan's true motion (4.3 px a frame) off by a fraction of a pixel: work for the refinement."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        t = np.eye(3)
        t[0, 2] = 40.0 + 4.3 * i + rng.uniform(-0.6, 0.6)
        t[1, 2] = 10.0 + rng.uniform(-0.6, 0.6)
        out.append(t)
    return out


def test_refining_on_threads_gives_the_one_thread_result(monkeypatch: pytest.MonkeyPatch) -> None:
    shot = pan_shot(8)
    frames, masks = shot["image"], shot["mask"]
    estimate = _shifted_estimate(len(frames))
    one = refine_camera(frames, estimate, masks, workers=1)

    threads: set[str] = set()
    align = camera_module._align

    def recording(*args: Any, **kwargs: Any) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return align(*args, **kwargs)

    monkeypatch.setattr(camera_module, "_align", recording)
    many = refine_camera(frames, estimate, masks, workers=3)
    assert len(threads) > 1, threads  # the frames were aligned on several threads
    assert len(many) == len(one)
    for a, b in zip(one, many, strict=True):
        assert np.array_equal(a, b)  # same transforms, same order
    # The refinement did something (else equality would prove nothing).
    moved = [float(np.abs(a - e).max()) for a, e in zip(one, estimate, strict=True)]
    assert max(moved) > 0.05, moved


def test_the_integer_support_test_equals_excess() -> None:
    rng = np.random.default_rng(5)
    labs = rng.integers(0, 256, (4, 40, 60, 3), dtype=np.uint8)
    labs[0, :5] = 0
    labs[1, :5] = 255  # the extremes, where a wrapping uint8 difference would show
    labs = np.stack([cv2.GaussianBlur(x, (3, 3), 0) if k > 1 else x for k, x in enumerate(labs)])
    lo = np.stack([cv2.erode(x, K3) for x in labs]).astype(np.uint8)
    hi = np.stack([cv2.dilate(x, K3) for x in labs]).astype(np.uint8)
    for x in (labs[0], labs[1], labs[2], rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)):
        fast = _box_excess_u8(x[None], lo, hi)
        slow = excess(x[None], lo, hi)
        assert fast.dtype == slow.dtype == np.float32
        assert fast.shape == slow.shape == (4, 40, 60)
        assert np.array_equal(fast, slow)
    # Both sides of the box occur: below lo and above hi.
    x = labs[2][None]
    assert (x < lo).any() and (x > hi).any()


def test_the_support_tests_cut_without_square_roots_equals_excess_under_tol() -> None:
    """`_box_within_u8` is `excess < tol` bit for bit: at the support's tolerance (14: sums of squares
    under 196, clamped 8-bit squares), at tolerances between two roots, and past 16 (16-bit squares)."""
    rng = np.random.default_rng(7)
    labs = rng.integers(0, 256, (3, 40, 60, 3), dtype=np.uint8)
    labs[0, :5] = 0
    labs[1, :5] = 255
    lo = np.stack([cv2.erode(x, K3) for x in labs]).astype(np.uint8)
    hi = np.stack([cv2.dilate(x, K3) for x in labs]).astype(np.uint8)
    near = np.clip(labs[2].astype(np.int16) + rng.integers(-12, 13, labs[2].shape), 0, 255).astype(np.uint8)
    for x in (labs[0], labs[2], near):
        for tol in (14.0, 0.5, 9.99, 13.9999, 14.0001, 15.99, 16.0, 30.0, 500.0):
            got = _box_within_u8(x[None], lo, hi, tol)
            want = excess(x[None], lo, hi) < tol
            assert got.dtype == np.bool_ and np.array_equal(got, want), tol
        assert 0 < int(_box_within_u8(x[None], lo, hi, 14.0).sum()) < lo.shape[0] * 40 * 60


def test_the_next_shot_s_camera_is_analysed_ahead_on_its_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the stage thread computes shot 1 (its camera first), shot 2's camera is analysed on the
    background thread; each shot stores the camera analysing its own drawings gives."""
    project, runner, _ = _pan_project(tmp_path, monkeypatch)
    analysed: dict[int, str] = {}
    real = shot_module.analyse_shot

    def recording(frames: Any, times: list[int], tick: Any = None) -> Any:
        analysed[times[0]] = threading.current_thread().name
        return real(frames, times, tick)

    monkeypatch.setattr(shot_module, "analyse_shot", recording)
    try:
        runner.submit_run().wait(300)
        assert runner.wait_idle(300)
        for stage in STAGES:
            assert (runner.stage_status(stage) == FRESH).all(), stage
        assert analysed[0] == "pipeline-worker"
        assert analysed[10].startswith("shot-analysis"), analysed
        for shot in project.shots:
            record = project.layers.read_record(CAMERA_RECORD, shot.start)
            assert record is not None
            drawings = record["inputs"]["drawings"]
            assert drawings[0] == shot.start
            estimate, transforms = real([project.frame(f) for f in drawings], drawings)
            assert np.array_equal(np.asarray(record["transforms"]), np.asarray(transforms))
            assert np.array_equal(np.asarray(record["estimate"]), np.asarray(estimate))
    finally:
        runner.stop()
        project.close()


def test_an_analysis_started_for_other_drawings_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, runner, _ = _pan_project(tmp_path, monkeypatch)
    runner.stop()
    try:
        ctx = SimpleNamespace(project=project, backend_name=lambda role: "classical",
                              frames=lambda indices: ShotFrames(project, indices), poll=lambda: None)
        shot = project.shots[1]
        ahead = ShotAnalyses()
        ahead.start(ctx, "segment", shot)  # type: ignore[arg-type]
        drawings = list(range(shot.start, shot.end))
        assert ahead.take(shot, {"shot": [shot.start, shot.end], "drawings": drawings[:-1]}) is None
        ahead.start(ctx, "segment", shot)  # type: ignore[arg-type]
        pending = ahead.take(shot, {"shot": [shot.start, shot.end], "drawings": drawings})
        assert pending is not None and pending.result().drawings == drawings
        # A stage that reads no camera starts nothing.
        ahead.start(ctx, "annotate", shot)  # type: ignore[arg-type]
        assert ahead.take(shot, {"shot": [shot.start, shot.end], "drawings": drawings}) is None
        ahead.close()
    finally:
        project.close()
