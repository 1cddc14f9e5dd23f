"""Export never writes stale results silently.

Before an export, frames whose stage results are stale (their inputs changed since they were made:
a correction, a reassigned track, another backend) are re-run through the pipeline runner, with
progress. With ``allow_stale`` they are written as they are and listed in the export manifest
instead; anything still not fresh after a re-run (a frame that failed) is listed too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.pipeline.graph import FAILED, MISSING, ROLE_OF_STAGE, STAGES, STALE, stage_status
from app.store import Project

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)


def backends_of(project: Project) -> dict[str, str]:
    return dict(project.manifest.settings.get("backends", {}))


def not_fresh(project: Project, frames: set[int] | None = None) -> dict[int, list[str]]:
    """Frame -> the stages whose result for it is stale, failed, or missing where that stage has run.

    A stage that never ran on the project is absent, not stale (a ``layers`` export of masks only
    does not need mattes).
    """
    backends = backends_of(project)
    out: dict[int, list[str]] = {}
    for stage in STAGES:
        codes = stage_status(project, stage, backends.get(ROLE_OF_STAGE[stage], "classical"))
        if not (codes != MISSING).any():
            continue
        for f in np.flatnonzero((codes == STALE) | (codes == FAILED) | (codes == MISSING)).tolist():
            if frames is None or f in frames:
                out.setdefault(int(f), []).append(stage)
    return out


def refresh(project: Project, frames: list[int], *, runner: Any = None, progress: StageProgress | None = None,
            timeout: float = 24 * 3600.0, cancel: Callable[[], bool] | None = None) -> None:
    """Re-run what is not fresh on the shots holding ``frames``, through ``runner`` (default: the
    project's started runner, e.g. the app's) or one of this call's own (the command line), reporting
    ``progress(stage, done, total)``. ``cancel()`` returning True cancels the re-run and raises
    `ExportCancelled` (what it finished is kept)."""
    from app.export.naming import ExportCancelled
    from app.pipeline.events import JobProgress, PipelineEvent
    from app.pipeline.runner import PipelineRunner, PipelineSettings

    if not frames:
        return
    starts = {project.shot_of(f).start for f in frames}
    shots = [i for i, s in enumerate(project.shots) if s.start in starts]
    runner = runner if runner is not None else project.runner
    own = runner is None
    if own:
        runner = PipelineRunner(project, PipelineSettings(backends=backends_of(project)))

    def show(event: PipelineEvent) -> None:
        if progress is not None and isinstance(event, JobProgress):
            progress(event.stage, event.done, event.total)

    unsubscribe = runner.subscribe(show)
    try:
        if own:
            runner.start()
        handle = runner.submit_run(None, shots)
        end = time.monotonic() + timeout
        while not handle.wait(0.2) and time.monotonic() < end:
            if cancel is not None and cancel():
                runner.cancel(handle.job_id)
                handle.wait(60)
                raise ExportCancelled("Export cancelled while out-of-date frames were brought up to date; "
                                      "what was re-run is kept.")
        if own:
            runner.wait_idle(60)
    finally:
        unsubscribe()
        if own:
            runner.stop()
