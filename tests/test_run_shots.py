"""Two shots of a stage at once: the runner runs a weight-free stage whose shots are independent on
two threads (the worker's and a helper), each shot once; segment's shots stay in turn; a cancel or a
helper's failure stops the run and no further shot starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_pipeline_runner import Annotator, Calls, Clicker, Effects, Inpaint, Matter, Propagator, Seg

from app.pipeline.events import JobFinished, PipelineEvent
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages import STAGE_FUNCTIONS
from app.store import Manifest, Project, Shot, SourceInfo

W, H = 48, 32
SHOTS = [Shot(0, 4), Shot(4, 8), Shot(8, 12)]


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[tuple[PipelineRunner, list[JobFinished]]]:
    project = Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "h"), 12, W, H, 24.0, shots=SHOTS))
    for i in range(12):
        project.media.write_frame(i, np.full((H, W, 3), i, np.uint8))
    calls = Calls()
    backends = {
        "segmenter": Seg(calls), "matter": Matter(calls), "inpainter": Inpaint(calls), "effects": Effects(calls),
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator(),
    }
    run = PipelineRunner(project, backends=backends)
    run.settings.workers = 2
    finished: list[JobFinished] = []

    def listen(event: PipelineEvent) -> None:
        if isinstance(event, JobFinished):
            finished.append(event)

    run.subscribe(listen)
    run.start()
    yield run, finished
    run.stop()
    project.close()


def _fake_stage(ran: list[tuple[int, str]], body: Any = None) -> Any:
    def stage(ctx: Any, shot: Shot, targets: list[int]) -> None:
        ran.append((shot.start, threading.current_thread().name))
        if body is not None:
            body(ctx, shot)
        for f in targets:
            ctx.write("alpha", f, np.full((H, W), shot.start, np.uint8), {"stage": "test"})
    return stage


def test_two_shots_of_a_stage_run_at_once_each_once(
    runner: tuple[PipelineRunner, list[JobFinished]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, finished = runner
    ran: list[tuple[int, str]] = []
    both = threading.Barrier(2, timeout=20)  # shots 1 and 2 must be under way together

    def meet(ctx: Any, shot: Shot) -> None:
        if shot.start < 8:
            both.wait()

    monkeypatch.setitem(STAGE_FUNCTIONS, "matte", _fake_stage(ran, meet))
    assert run.submit_run(stages=["matte"], force=True).wait(60)
    assert run.wait_idle(60)
    assert [e.status for e in finished] == ["done"], finished
    assert sorted(start for start, _ in ran) == [0, 4, 8]  # each shot once
    threads = {name for _, name in ran}
    assert "pipeline-worker" in threads and any(n.startswith("shots-matte") for n in threads), ran
    for f in range(12):
        alpha = run.project.layers.read("alpha", f)
        assert alpha is not None and int(alpha[0, 0]) == run.project.shot_of(f).start


def test_segment_shots_run_in_turn_on_the_worker(
    runner: tuple[PipelineRunner, list[JobFinished]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, finished = runner
    ran: list[tuple[int, str]] = []
    monkeypatch.setitem(STAGE_FUNCTIONS, "segment", _fake_stage(ran))
    assert run.submit_run(stages=["segment"], force=True).wait(60)
    assert run.wait_idle(60)
    assert [e.status for e in finished] == ["done"], finished
    assert ran == [(0, "pipeline-worker"), (4, "pipeline-worker"), (8, "pipeline-worker")]


def test_a_cancel_stops_both_shots_and_starts_no_other(
    runner: tuple[PipelineRunner, list[JobFinished]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, finished = runner
    ran: list[tuple[int, str]] = []
    both = threading.Barrier(2, timeout=20)
    job: list[int] = []

    def cancelled_midway(ctx: Any, shot: Shot) -> None:
        both.wait()
        if shot.start == 0:
            run.cancel(job[0])
        time.sleep(0.1)
        ctx.checkpoint("matte", shot.start)  # raises Cancelled on both threads
        raise AssertionError("not cancelled")

    monkeypatch.setitem(STAGE_FUNCTIONS, "matte", _fake_stage(ran, cancelled_midway))
    handle = run.submit_run(stages=["matte"], force=True)
    job.append(handle.job_id)
    assert handle.wait(60)
    assert run.wait_idle(60)
    assert [e.status for e in finished] == ["cancelled"], finished
    assert sorted(start for start, _ in ran) == [0, 4]  # the third shot never started


def test_a_helper_s_failure_fails_the_run_and_starts_no_other_shot(
    runner: tuple[PipelineRunner, list[JobFinished]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, finished = runner
    ran: list[tuple[int, str]] = []
    both = threading.Barrier(2, timeout=20)

    def helper_fails(ctx: Any, shot: Shot) -> None:
        both.wait()
        if threading.current_thread().name != "pipeline-worker":
            raise RuntimeError("boom")
        time.sleep(0.3)  # the worker's shot ends after the helper failed

    monkeypatch.setitem(STAGE_FUNCTIONS, "matte", _fake_stage(ran, helper_fails))
    assert run.submit_run(stages=["matte"], force=True).wait(60)
    assert run.wait_idle(60)
    assert [(e.status, e.message) for e in finished] == [("failed", "boom")], finished
    assert sorted(start for start, _ in ran) == [0, 4]
