"""What a running job sees of the pipeline: `RunContext`, the implementation of
`app.pipeline.stages.StageContext` the runner hands to stage functions and interactive propagation.

It is built from the runner's parts (backends, job queue, write queue, event emitter) and reaches
into none of them: a stage writes through ``write`` / ``done`` / ``failed``, reports progress and
yields to interactive work through ``checkpoint``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from app.errors import CelstudioError
from app.pipeline.backends import Backends
from app.pipeline.events import FrameFailed, JobProgress, PipelineEvent
from app.pipeline.frames import ShotFrames
from app.pipeline.graph import record_name
from app.pipeline.jobs import BATCH, Cancelled, JobInfo, JobQueue
from app.pipeline.writes import WriteQueue
from app.store import Project
from models.registry import weight_free

if TYPE_CHECKING:
    from app.pipeline.stages.shot import ShotAnalyses

log = logging.getLogger(__name__)
_PROGRESS = threading.Lock()
# A job's time left is measured from its first frame on (loading models and analysing a shot come
# before it: on konobi_s01e007 they took 144 s and the first frame promised "about 5 h 15 min left" for
# a run that ended 75 s later), once the rate has run this long over this share of the job.
ETA_AFTER_S, ETA_AFTER_SHARE = 5.0, 0.1


class RunContext:
    """One job's view of the runner (see the module docstring)."""

    def __init__(
        self,
        project: Project,
        info: JobInfo,
        *,
        backends: Backends,
        jobs: JobQueue,
        writes: WriteQueue,
        emit: Callable[[PipelineEvent], None],
        serve_interactive: Callable[[], None],
    ) -> None:
        self.project = project
        self.info = info
        self.backends = backends
        self._jobs = jobs
        self._writes = writes
        self._emit = emit
        self._serve_interactive = serve_interactive
        # A batch run's shot cameras analysed ahead (`app.pipeline.stages.shot.ShotAnalyses`, set by
        # the runner); `shot_camera` takes them from here.
        self.shot_analyses: ShotAnalyses | None = None

    def beside(self) -> RunContext:
        """This job's context for a second thread running another shot of the same stage: the same
        writes, progress, pause and cancel, but it never serves interactive jobs (they run on the
        worker thread, at its own checkpoints)."""
        other = RunContext(self.project, self.info, backends=self.backends, jobs=self._jobs, writes=self._writes,
                           emit=self._emit, serve_interactive=lambda: None)
        other.shot_analyses = self.shot_analyses
        return other

    # -- what a stage reads -------------------------------------------------------------------------
    def backend(self, role: str) -> Any:
        # Any: the stages see each role's backend by its protocol (`StageContext.backend`'s overloads).
        return self.backends.get(role)

    def backend_name(self, role: str) -> str:
        # Resolves a fallback first, so records name the backend really used.
        return self.backends.name(role)

    def frames(self, indices: list[int], load: Callable[[int], np.ndarray] | None = None) -> ShotFrames:
        return ShotFrames(self.project, indices, load=load)

    def option(self, name: str) -> Any:
        return getattr(self.backends.settings, name)

    def workers(self, role: str) -> int:
        # Weight-free backends are stateless numpy/OpenCV code; a deep one already fills the device.
        return self.backends.settings.workers if weight_free(role, self.backend_name(role)) else 1

    # -- the write path -----------------------------------------------------------------------------
    def _put(self, task: Callable[[], None]) -> None:
        """Queue a write. After this job's first failed write, its later writes are dropped: a record
        must never say "fresh" for a frame whose result is not on disk, and a full disk is not
        written to again and again."""
        info = self.info

        def guarded() -> None:
            if info.write_error is not None:
                return
            try:
                task()
            except Exception as exc:
                if isinstance(exc, CelstudioError):
                    log.info("write failed: %s", exc)  # reported with the job's end
                else:
                    log.exception("write failed")
                info.write_error = exc

        self._writes.put(guarded)

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        """Store a result; the store announces it (`app.store.events.LayerWritten`) once written."""
        def task() -> None:
            self.project.layers.write(layer, frame, array, {"source": "pipeline", **(meta or {})})

        self._put(task)

    def restore(self, layer: str, frame: int, before: np.ndarray | None, meta: dict[str, Any]) -> None:
        """Put back what ``frame`` held before this job wrote it (``before`` None: nothing), even after
        a failed write. Best effort: when that cannot be written either (the disk may still be full),
        the frame is marked for a re-run instead."""

        def task() -> None:
            try:
                if before is None:
                    self.project.layers.forget(layer, frame)
                else:
                    self.project.layers.write(layer, frame, before, meta)
            except CelstudioError:
                log.warning("could not restore %s of frame %s", layer, frame)
                try:
                    self.project.layers.forget(layer, frame)
                except CelstudioError:
                    log.warning("could not mark frame %s for a re-run", frame)

        self._writes.put(task)

    def done(self, stage: str, frame: int, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        record = {"status": "ok", "inputs": inputs, **(extra or {})}
        self._put(lambda: self.project.layers.write_record(record_name(stage), frame, record))

    def failed(self, stage: str, frame: int, inputs: dict[str, Any], reason: str) -> None:
        record = {"status": "failed", "inputs": inputs, "error": reason}
        self._put(lambda: self.project.layers.write_record(record_name(stage), frame, record))
        self._emit(FrameFailed(stage, frame, reason))

    def drain(self) -> None:
        """Wait until every write queued so far has landed (the next stage reads them)."""
        self._writes.join()

    # -- between frames -----------------------------------------------------------------------------
    def serve_waiting(self) -> None:
        """Serve waiting interactive jobs, as a batch job's checkpoint does (while it waits for
        another thread's shot)."""
        if self.info.priority >= BATCH:
            self._serve_interactive()

    def poll(self) -> None:
        """Inside one long step that has no frame done yet (a shot-level backend call looking at a real
        shot's drawings one by one): raise `Cancelled` once the job is cancelled. Counts nothing and
        serves nothing: a pause still takes effect at the next `checkpoint`."""
        if self.info.cancelled:
            raise Cancelled

    def checkpoint(self, stage: str, frame: int, count: int = 1) -> None:
        """Count ``count`` frames done, report progress, serve waiting interactive jobs (batch work),
        wait while paused, and raise `Cancelled` once the job is cancelled."""
        info = self.info
        if info.write_error is not None:
            raise info.write_error  # stop computing results that cannot be stored
        with _PROGRESS:  # two shots of a stage may count at once (`RunContext.beside`)
            info.done += count
            done = info.done
            now = time.monotonic()
            if not info.first_at:
                info.first_at, info.first_done = now, done
            since = now - info.first_at
            if since >= ETA_AFTER_S and done - info.first_done >= max(1.0, ETA_AFTER_SHARE * info.total):
                info.fps = (done - info.first_done) / since
                info.eta_s = (info.total - done) / info.fps
            else:  # not measured yet: no time left is said rather than hours
                info.fps = done / max(now - info.started, 1e-6)
                info.eta_s = 0.0
        self._emit(JobProgress(info.job_id, info.kind, stage, frame, done, info.total, info.fps, info.eta_s))
        if info.priority >= BATCH:
            self._serve_interactive()
        while not self._jobs.wait_unpaused(0.05):
            if info.cancelled:
                break
            self._serve_interactive()
        if info.cancelled:
            raise Cancelled
