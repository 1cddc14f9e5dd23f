"""Events the pipeline runner emits (on its worker thread). Views re-emit them onto the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    kind: str
    stage: str
    frame: int
    done: int
    total: int
    fps: float
    eta_s: float


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    kind: str
    status: str  # "done" | "cancelled" | "failed"
    message: str = ""


@dataclass(frozen=True)
class FramesChanged:
    layer: str
    frames: tuple[int, ...]


@dataclass(frozen=True)
class FrameFailed:
    stage: str
    frame: int
    reason: str


PipelineEvent = JobProgress | JobFinished | FramesChanged | FrameFailed
PipelineListener = Callable[[PipelineEvent], None]
