"""The UI's view of the pipeline runner: a protocol, a factory, and a status fallback.

The UI depends on the runner only through `RunnerLike`, so tests can drive the whole app with a small
fake and the app still opens (read-only) when the pipeline cannot be created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from app.store import Project

log = logging.getLogger(__name__)

try:
    from app.pipeline.graph import STAGES as _STAGES

    STAGES: tuple[str, ...] = tuple(_STAGES)
except ImportError:
    STAGES = ("segment", "propagate", "matte", "inpaint", "effects", "annotate")

# Which layer holds each stage's output, for the status strips when no runner is there to ask.
STAGE_LAYER = {"segment": "masks", "propagate": "confidence", "matte": "alpha", "inpaint": "clean",
               "effects": "effects"}


class RunnerLike(Protocol):
    """What the UI calls on `app.pipeline.runner.PipelineRunner`."""

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...
    def submit_click(self, frame: int, object_id: int, prompt: Any) -> Any: ...
    def submit_brush(self, frame: int, object_id: int, stroke: np.ndarray, erase: bool = ...) -> Any: ...
    def submit_propagate(self, frame: int, direction: Any = ...) -> Any: ...
    def submit_prepare(self, frame: int, radius: int = ...) -> Any: ...
    def submit_delete_object(self, object_id: int, shot: int | None = ...) -> Any: ...
    def submit_object_edit(self, edit: Callable[[Project], Any], kind: str = ...) -> Any: ...
    def submit_run(self, stages: Any = ..., shots: Any = ...) -> Any: ...
    def cancel(self, job_id: int) -> Any: ...
    def jobs(self) -> list[Any]: ...
    def undo(self) -> Any: ...
    def redo(self) -> Any: ...
    def stage_status(self, stage: str) -> np.ndarray: ...
    def stop(self, timeout: float = ...) -> None: ...


def pipeline_settings(project: Project) -> dict[str, Any]:
    """The project's saved pipeline settings: ``backends`` per role, ``device``, ``batch_size``."""
    saved = project.manifest.settings
    out: dict[str, Any] = {"backends": dict(saved.get("backends", {}))}
    for key in ("device", "batch_size"):
        if key in saved:
            out[key] = saved[key]
    return out


def default_runner_factory(project: Project) -> RunnerLike | None:
    """Create and start the real runner, or None when the pipeline package is not there yet."""
    try:
        from app.pipeline.runner import PipelineRunner, PipelineSettings
    except ImportError:
        log.warning("app.pipeline.runner is not available; the app opens without a pipeline")
        return None
    runner = PipelineRunner(project, PipelineSettings(**pipeline_settings(project)))
    runner.start()
    return runner


def fallback_stage_status(project: Project, stage: str) -> np.ndarray:
    """1 (fresh) where the stage's layer was written, else 0 (missing)."""
    layer = STAGE_LAYER.get(stage)
    if layer is None:
        return np.zeros(project.frame_count, np.uint8)
    return (project.layers.versions(layer) > 0).astype(np.uint8)
