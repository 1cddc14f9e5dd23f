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

from app.batch.workspace import Op, ShotPackage, apply_ops
from app.store import Project


class ProjectWriter:
    """Holds one project open; `read` packs a shot, `apply` replays a worker's writes."""

    def __init__(self, root: str, backends: dict[str, str]) -> None:
        self.project = Project.open(Path(root))
        self.backends = dict(backends)

    def ready(self) -> int:
        return self.project.frame_count

    def read(self, shot: int) -> ShotPackage:
        return ShotPackage.read(self.project, shot, self.backends)

    def segment(self, shots: list[int]) -> dict[str, Any]:
        """Stage 1 for ``shots`` on this project, in shot order, by the pipeline's own runner.

        Stage 1 registers each shot's tracks as project objects, recognised against the objects of the
        shots before it (a journalled change of the project's object list), so it cannot run shot by
        shot on workers: the result would depend on which shot finished first."""
        from app.pipeline.events import FrameFailed, PipelineEvent
        from app.pipeline.runner import PipelineRunner, PipelineSettings

        failures: list[tuple[str, int, str]] = []

        def listen(event: PipelineEvent) -> None:
            if isinstance(event, FrameFailed):
                failures.append((event.stage, event.frame, event.reason))

        t = time.perf_counter()
        runner = PipelineRunner(self.project, PipelineSettings(backends=dict(self.backends)))
        runner.subscribe(listen)
        runner.start()
        try:
            handle = runner.submit_run(["segment"], shots)
            handle.wait()
            runner.wait_idle(3600)
        finally:
            runner.stop()
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
