"""Jobs: starting, cancelling and pausing pipeline work, runner events, and the stage status strips."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PySide6.QtCore import Slot

from app.errors import CelstudioError
from app.pipeline.events import FrameFailed, JobFinished, JobProgress, PipelineEvent
from app.pipeline.graph import FAILED, MISSING, RUNNING, STAGES, STALE
from app.ui.controller.core import FINISHED_SHOWN_S, INTERACTIVE_KINDS, FinishedJob
from app.ui.jobtext import describe
from app.ui.runner_link import saved_stage_status

if TYPE_CHECKING:  # each mixin type-checks against the state it works on
    from app.ui.controller.core import ControllerCore as _Base
else:
    _Base = object


# Edits whose line the update after them repeats, and what a one-frame correction leaves to the user.
EDIT_KINDS = {"click", "undo", "redo", "kind", "delete", "objects", "merge", "split", "reassign"}
ONE_FRAME_HINT = "Other frames are unchanged: Ctrl+] / Ctrl+[ / Ctrl+P propagate it through the shot."


class JobsMixin(_Base):
    """What runs, what ended, and what is left to do; stale work resumes by itself unless paused."""

    def propagate(self, direction: Literal["forward", "backward", "both"] = "both") -> Any:
        if self.project is None or self.runner is None:
            self.status.emit("The pipeline is not available.")
            return None
        self.last_job = self.runner.submit_propagate(self.frame, direction)
        self.status.emit(f"Propagating {direction} from frame {self.frame + 1} within the shot...")
        return self.last_job

    def run_all(self) -> Any:
        if self.project is None or self.runner is None:
            self.status.emit("The pipeline is not available.")
            return None
        self.last_job = self.runner.submit_run()
        self.status.emit("Running the pipeline on every shot...")
        self.jobs_changed.emit()  # the row shows at once, before the first frame is done
        return self.last_job

    def cancel(self, job_id: Any = None) -> int:
        """Cancel one job, or (``None``) every running and queued job; return how many were cancelled.

        Cancelling everything is the explicit "Cancel all jobs" action; Esc never calls it.
        """
        if self.runner is None:
            return 0
        ids = [job_id] if job_id is not None else [
            j.job_id for j in self.runner.jobs() if j.state in ("running", "queued") and j.kind != "prepare"]
        for jid in ids:
            self.runner.cancel(jid)
        self._cancelled_by_user.update(ids)
        if job_id is None:
            self._cancelled_all.update(ids)  # "stop everything": nothing resumes by itself after it
        if ids:
            self.status.emit(f"Cancelling {len(ids)} job{'s' if len(ids) != 1 else ''}; finished frames are kept.")
        self.jobs_changed.emit()
        return len(ids)

    @property
    def paused(self) -> bool:
        return self.runner is not None and self.runner.paused

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the pipeline; while paused, nothing starts or resumes by itself."""
        if self.runner is None:
            return
        if paused:
            self.runner.pause()
            self.status.emit("Pipeline paused: running jobs stop at the next frame; nothing resumes by itself.")
        else:
            self.runner.resume()
            self.status.emit("Pipeline resumed.")
            self._resume_pending = True
            self._refresh_status()
        self.jobs_changed.emit()

    def _resume_stale(self, codes: dict[str, np.ndarray]) -> None:
        """Start a run for what is stale or missing: always for stale work, for a never-run project
        only with ``auto_run``; never while paused or while a run is already queued."""
        self._resume_pending = False
        if self.runner is None or self.project is None or self.paused or not codes:
            return
        if any(j.kind == "run" for j in self.runner.jobs()):
            return
        stacked = np.stack([np.asarray(v) for v in codes.values()])
        outstanding = np.isin(stacked, (MISSING, STALE)).any(axis=0)
        if not outstanding.any():
            return
        ran_before = bool((stacked != MISSING).any())
        if not ran_before and not self.auto_run:
            return
        self.resume_job = self.runner.submit_run()
        n = int(outstanding.sum())
        self.status.emit(f"Resuming the pipeline on {n} frame{'s' if n != 1 else ''} that are stale or not done."
                         if ran_before else "Running the pipeline on the new project...")
        self.jobs_changed.emit()

    def job_lines(self) -> list[tuple[int, str, str, str, int, int]]:
        """``(job_id, state, title, detail, done, total)`` per job to show: active ones, then those
        that ended in the last few seconds (so a cancel or a failure is seen)."""
        out = []
        now = time.monotonic()
        for job in self.runner.jobs() if self.runner is not None else []:
            if job.kind == "prepare":
                continue  # background embedding work the user did not ask for
            elapsed = now - job.started if job.state == "running" and job.started else 0.0
            text = describe(job.kind, job.job_id, job.state, job.done, job.total, job.fps, job.eta_s,
                            self.job_stage.get(job.job_id, ""), elapsed_s=elapsed)
            out.append((job.job_id, job.state, text.title, text.detail, job.done, job.total))
        self.finished_jobs = [f for f in self.finished_jobs if now - f.at < FINISHED_SHOWN_S]
        for f in self.finished_jobs:
            text = describe(f.kind, f.job_id, f.status, f.done, f.total, message=f.message)
            out.append((f.job_id, f.status, text.title, text.detail, f.done, f.total))
        return out

    @Slot(object)
    def _on_runner_event(self, event: PipelineEvent) -> None:
        if isinstance(event, JobProgress):
            self.job_stage[event.job_id] = event.stage
            self.job_counts[event.job_id] = (event.done, event.total)
            text = describe(event.kind, event.job_id, "running", event.done, event.total, event.fps,
                            event.eta_s, event.stage)
            self.status.emit(text.line())
            self.jobs_changed.emit()
        elif isinstance(event, JobFinished):
            self._on_job_finished(event)
        elif isinstance(event, FrameFailed):
            self.status.emit(f"{event.stage} failed on frame {event.frame + 1}: {event.reason}")

    def _on_job_finished(self, event: JobFinished) -> None:
        if event.kind == "prepare" and event.status != "failed":
            return  # background embedding work the user did not ask for: no status noise
        done, total = self.job_counts.pop(event.job_id, (0, 0))
        self.job_stage.pop(event.job_id, None)
        if event.status in ("cancelled", "failed") or (event.kind in ("undo", "redo") and event.message):
            self.finished_jobs.append(FinishedJob(event.job_id, event.kind, event.status, event.message,
                                                  done, total, time.monotonic()))
        if event.kind in ("delete", "undo", "redo"):
            self._objects_touched()  # the object list may have changed with the masks
        text = describe(event.kind, event.job_id, event.status, done, total, message=event.message)
        notice, self._history_notice = self._history_notice, ""
        # A job that says what it did (an undo: "Undid: brush on Luffy, frame 34.", an object edit: "Done:
        # merge of ...") says it once it ran.
        said = event.message if event.status == "done" and event.message else text.line() + "."
        said = self._after_edit(event, said, done, total)
        self.status.emit(said + (f" {notice}" if notice else ""))
        if event.status == "failed" and event.message:
            self.error.emit(CelstudioError(event.message))
        by_user = event.job_id in self._cancelled_by_user
        all_of_them = event.job_id in self._cancelled_all
        self._cancelled_by_user.discard(event.job_id)
        self._cancelled_all.discard(event.job_id)
        if event.status == "cancelled" and event.kind in INTERACTIVE_KINDS and not all_of_them:
            # What the cancelled edit left stale is picked up again (unless paused, see _resume_stale).
            self._resume_pending = True
        elif event.status == "cancelled" and by_user:
            self._resume_pending = False
        self.jobs_changed.emit()
        self._refresh_status()

    def _after_edit(self, event: JobFinished, said: str, done: int, total: int) -> str:
        """What the status line says when ``event`` ends, knowing the edit before it.

        An edit's own line ("Click correction on Sanae, frame 1: ...", "Undid: ...") used to last a moment:
        the update after it re-ran the stages it made stale and ended on "Updating after an edit #3: done:
        4 of 4 steps.", which says neither what changed nor that the other frames did not. So a one-frame
        correction adds how to carry it through the shot, and the update's end repeats the edit's line."""
        if event.status != "done":
            self._edit_said = ""
            return said
        if event.kind == "update":
            if self._edit_said:
                said = f"{self._edit_said} Layers updated ({done} of {total} steps)." if total else self._edit_said
            self._edit_said = ""
            return said
        if event.kind == "click" and event.message:
            said += f" {ONE_FRAME_HINT}"
        self._edit_said = said if event.kind in EDIT_KINDS and event.message else ""
        return said

    def _refresh_status(self) -> None:
        """Recompute the timeline's stage strips on the loader's background thread."""
        if self.project is None or self.loader is None:
            return
        runner, project = self.runner, self.project

        def compute() -> dict[str, np.ndarray]:
            if runner is not None:
                return {stage: np.asarray(runner.stage_status(stage), np.uint8) for stage in STAGES}
            return {stage: saved_stage_status(project, stage) for stage in STAGES}

        self.loader.request_status(compute)

    @Slot(object)
    def _on_status(self, cache: dict[str, np.ndarray]) -> None:
        self._status_cache = cache
        self.work_left = summarize(cache)
        self.timeline_changed.emit()
        if self._resume_pending:
            self._resume_stale(cache)

    def stale_frames(self) -> int:
        """Frames with at least one stage result that is stale (its inputs changed since)."""
        return self.work_left.get("stale", 0)

    def stage_status(self) -> dict[str, np.ndarray]:
        return self._status_cache


def summarize(codes: dict[str, np.ndarray]) -> dict[str, int]:
    """Frames by what is left to do: ``stale`` (some result is out of date), ``missing`` (some stage
    never ran), ``failed``, ``running``; a frame is counted once, under its most urgent state."""
    if not codes:
        return {}
    stacked = np.stack([np.asarray(v) for v in codes.values()])
    running = (stacked == RUNNING).any(axis=0)
    stale = (stacked == STALE).any(axis=0) & ~running
    failed = (stacked == FAILED).any(axis=0) & ~running & ~stale
    missing = (stacked == MISSING).any(axis=0) & ~running & ~stale & ~failed
    return {"stale": int(stale.sum()), "missing": int(missing.sum()), "failed": int(failed.sum()),
            "running": int(running.sum()), "frames": int(stacked.shape[1])}
