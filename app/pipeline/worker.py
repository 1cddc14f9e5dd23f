"""The runner's worker: one long-lived thread that runs queued jobs by priority, and the event fan-out.

It knows nothing of stages or corrections: a job is a ``body(info)``; its writes go through the write
queue, and a job whose body returned but one of whose writes failed still fails. Between frames, batch
work calls `Worker.serve_interactive` (through `RunContext.checkpoint`) so a click never waits for a
whole shot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.errors import CelstudioError
from app.pipeline.events import JobFinished, PipelineEvent, PipelineListener
from app.pipeline.jobs import BATCH, Body, Cancelled, Job, JobHandle, JobInfo, JobQueue
from app.pipeline.writes import WriteQueue

log = logging.getLogger(__name__)


class Worker:
    """Runs jobs from ``queue`` on its thread; ``after_job`` runs after each (memory upkeep)."""

    def __init__(self, after_job: Callable[[], None] = lambda: None) -> None:
        self.queue = JobQueue()
        self.writes = WriteQueue()
        self._after_job = after_job
        self._listeners: list[PipelineListener] = []
        self._thread = threading.Thread(target=self._work, name="pipeline-worker", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()
            self.writes.start()

    def stop(self, timeout: float) -> None:
        """Cancel every job, let the running one reach its next checkpoint, and land its writes."""
        self.queue.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.writes.stop(timeout)

    def submit(self, kind: str, priority: int, body: Body) -> JobHandle:
        return self.queue.push(kind, priority, body)

    # -- events -------------------------------------------------------------------------------------
    def subscribe(self, listener: PipelineListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: PipelineEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("pipeline listener failed")

    # -- running ------------------------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """Block until no job is queued or running and every write has landed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.queue.active():
                self.writes.join()
                if not self.queue.active():
                    return True
            time.sleep(0.01)
        return False

    def serve_interactive(self) -> None:
        """Run waiting interactive jobs now (called by batch work between frames)."""
        while (job := self._next_job(max_priority=BATCH)) is not None:
            self._execute(job)

    def _next_job(self, max_priority: int | None = None) -> Job | None:
        while (job := self.queue.pop(max_priority)) is not None:
            if not job.info.cancelled:
                return job
            self._finish(job.info, job, "cancelled")
        return None

    def _work(self) -> None:
        while self.queue.wait_for_work():
            job = self._next_job()
            if job is not None:
                self._execute(job)

    def _execute(self, job: Job) -> None:
        info = job.info
        info.state, info.started = "running", time.monotonic()
        status, message = "done", ""
        try:
            job.body(info)
            self.writes.join()
            message = info.outcome
        except Cancelled:
            status = "cancelled"
        except CelstudioError as exc:
            # Written for the user, who gets it with the job's end; no traceback in a terminal.
            log.info("job %s failed: %s", info.kind, exc)
            status, message = "failed", str(exc)
        except Exception as exc:
            log.exception("job %s failed", info.kind)
            status, message = "failed", str(exc) or type(exc).__name__
        if info.write_error is not None:
            # A result that did not reach the disk fails its job, whatever the job body thought.
            self.writes.join()
            status, message = "failed", _describe(info.write_error)
        self._finish(info, job, status, message)
        self._after_job()

    def _finish(self, info: JobInfo, job: Job, status: str, message: str = "") -> None:
        info.state, info.message = status, message
        job.finished.set()
        self.emit(JobFinished(info.job_id, info.kind, status, message))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CelstudioError):
        return str(exc)
    return f"A result could not be written ({type(exc).__name__}: {exc})."
