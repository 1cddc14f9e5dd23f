"""A project's one writer during a batch: a process that holds the project open, reads shot packages
for the workers and applies their results.

One writer per project, so each project has exactly one process writing it, while the episodes of a
season are written in parallel (HDF5 compression and the index are CPU work that a single process for
all projects would serialise: at 1080p it kept up with only ~27 one-CPU workers). As a Ray actor it
runs on the driver's node, where the projects' folder is; packages and results go between it and the
workers through Ray's object store without passing through the driver.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.batch.segment import ReplaySegmenter, SegmentCapture
from app.batch.workspace import Op, ShotPackage, StaleShot, apply_ops
from app.store import Project


class ProjectWriter:
    """Holds one project open; `read` packs a shot, `apply` replays a worker's writes."""

    def __init__(self, root: str, backends: dict[str, str]) -> None:
        self.project = Project.open(Path(root))
        self.backends = dict(backends)

    def ready(self) -> int:
        return self.project.frame_count

    def cpu(self) -> float:
        """CPU seconds this process has used since it started (imports and opening the project included)."""
        return time.process_time()

    def read(self, shot: int, frames: bool = True) -> ShotPackage:
        """The shot packed for a worker; without its frames when the worker has them already."""
        return ShotPackage.read(self.project, shot, self.backends, frames=frames)

    def register(self, shot: int, capture: SegmentCapture) -> dict[str, Any]:
        """The segment stage of ``shot`` with the segmenter's result a worker computed: the pipeline's
        runner registers the shot's tracks as project objects and writes the stage's layers and records,
        exactly as `celstudio run` does. Called in shot order (each shot is recognised against the
        objects of the shots before it)."""
        from app.pipeline.events import FrameFailed, JobFinished, PipelineEvent
        from app.pipeline.graph import frames_to_compute
        from app.pipeline.runner import PipelineRunner, PipelineSettings

        t = time.perf_counter()
        span = self.project.shots[shot]
        if frames_to_compute(self.project, "segment", list(range(span.start, span.end)), capture.backend) and not capture.needed:
            raise StaleShot(f"shot {shot} needs the segment stage now; the worker found nothing to do")
        failures: list[tuple[str, int, str]] = []
        failed: list[str] = []

        def listen(event: PipelineEvent) -> None:
            if isinstance(event, FrameFailed):
                failures.append((event.stage, event.frame, event.reason))
            elif isinstance(event, JobFinished) and event.status == "failed":
                failed.append(event.message)

        capture.store_camera(self.project)
        replay = ReplaySegmenter()
        replay.capture = capture
        # A runner per shot: its preset segmenter cannot be swapped for a loaded one (the runner
        # releases its backends when memory runs low).
        runner = PipelineRunner(self.project, PipelineSettings(backends={**self.backends, "segmenter": capture.backend}),
                                backends={"segmenter": replay})
        runner.subscribe(listen)
        runner.start()
        try:
            handle = runner.submit_run(["segment"], [shot])
            handle.wait()
            runner.wait_idle(3600)
        finally:
            runner.stop()
        if failed:  # e.g. a full disk: the shot is retried, then reported
            raise RuntimeError(failed[0])
        if replay.calls > 1:
            raise RuntimeError("the segment stage called its segmenter twice on one shot; the batch cannot split it")
        return {"seconds": time.perf_counter() - t, "failures": failures, "notices": list(runner.notices)}

    def apply(self, ops: list[Op]) -> float:
        """Apply the writes (raises `StaleShot` when the project changed under them); returns seconds."""
        t = time.perf_counter()
        apply_ops(self.project, ops)
        return time.perf_counter() - t

    def export(self, fmt: str, out: str) -> dict[str, Any]:
        from app.export import export_project

        return dict(export_project(self.project, Path(out), format=fmt))

    def close(self) -> None:
        self.project.close()
