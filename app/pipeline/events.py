"""Events the pipeline runner emits about its jobs (on its worker thread). Views re-emit them onto the
UI thread. What a job writes is announced by the store (`app.store.events`), once per write."""

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
    message: str = ""  # failed: why; done: what the job did when it says (an undo: "Undid: ...")


@dataclass(frozen=True)
class FrameFailed:
    stage: str
    frame: int
    reason: str


PipelineEvent = JobProgress | JobFinished | FrameFailed
PipelineListener = Callable[[PipelineEvent], None]
