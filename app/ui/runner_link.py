"""The UI's view of the pipeline runner: a protocol, a factory, and the status without a runner.

The UI depends on the runner only through `RunnerLike`, so tests can drive the whole app with a small
fake; a read-only project has no runner and its status strips come from the store alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from app.pipeline.graph import ROLE_OF_STAGE, stage_status
from app.pipeline.interactive import Direction
from app.pipeline.runner import JobHandle, JobInfo, PipelineRunner, PipelineSettings
from app.store import Project
from models.base import Prompt


class RunnerLike(Protocol):
    """What the UI calls on `app.pipeline.runner.PipelineRunner`."""

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...
    def submit_click(self, frame: int, object_id: int, prompt: Prompt) -> JobHandle: ...
    def submit_brush(self, frame: int, object_id: int, stroke: np.ndarray, erase: bool = ...) -> JobHandle: ...
    def submit_propagate(self, frame: int, direction: Direction = ...) -> JobHandle: ...
    def submit_prepare(self, frame: int, radius: int = ...) -> JobHandle: ...
    def submit_delete_object(self, object_id: int, shot: int | None = ...) -> JobHandle: ...
    def submit_object_edit(self, edit: Callable[[Project], Any], kind: str = ...) -> JobHandle: ...
    def submit_run(self, stages: list[str] | None = ..., shots: list[int] | None = ...) -> JobHandle: ...
    def cancel(self, job_id: int) -> Any: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def paused(self) -> bool: ...
    @property
    def settings(self) -> PipelineSettings: ...
    def jobs(self) -> list[JobInfo]: ...
    def undo(self) -> Any: ...
    def redo(self) -> Any: ...
    def stage_status(self, stage: str) -> np.ndarray: ...
    def stop(self, timeout: float = ...) -> None: ...
    @property
    def device_in_use(self) -> str | None: ...


def pipeline_settings(project: Project) -> dict[str, Any]:
    """The project's saved pipeline settings: ``backends`` per role, ``device``, ``batch_size`` and
    ``propagate_override`` (saved as ``stage3_override`` by earlier versions, still read)."""
    saved = dict(project.manifest.settings)
    if "stage3_override" in saved:
        saved.setdefault("propagate_override", saved["stage3_override"])
    out: dict[str, Any] = {"backends": dict(saved.get("backends", {}))}
    for key in ("device", "batch_size", "propagate_override"):
        if key in saved:
            out[key] = saved[key]
    return out


def default_runner_factory(project: Project) -> RunnerLike:
    """Create and start the real runner with the project's saved settings."""
    runner = PipelineRunner(project, PipelineSettings(**pipeline_settings(project)))
    runner.start()
    return runner


def saved_stage_status(project: Project, stage: str) -> np.ndarray:
    """The stage's status codes without a runner (a read-only project), for the saved backends."""
    backend = pipeline_settings(project)["backends"].get(ROLE_OF_STAGE[stage], "classical")
    return stage_status(project, stage, str(backend))
