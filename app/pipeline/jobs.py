"""The runner's job queue: jobs by priority (then submission order), their state, cancel and pause.

Pure bookkeeping under one condition variable; it runs nothing. `app.pipeline.runner` pops jobs
from it on its worker thread, and `app.pipeline.context.RunContext` asks it, between frames, whether
the running job was cancelled or the queue paused.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# Lower runs first: a click or a stroke jumps ahead of embeddings prepared for the next click, which
# jump ahead of batch work.
INTERACTIVE, PREPARE, BATCH = 0, 5, 10


class Cancelled(Exception):
    """Raised inside a job at a checkpoint after `JobQueue.cancel`."""


@dataclass
class JobInfo:
    job_id: int
    kind: str
    priority: int
    state: str = "queued"  # queued | running | done | cancelled | failed
    done: int = 0
    total: int = 0
    fps: float = 0.0
    eta_s: float = 0.0
    message: str = ""
    cancelled: bool = False
    started: float = 0.0
    first_at: float = 0.0  # when the job's first frame was done (models loaded, the shot analysed)
    first_done: int = 0  # frames done by then
    write_error: BaseException | None = field(default=None, repr=False)  # the first failed write of this job
    outcome: str = ""  # what a finished job did, in words (an undo: what it undid); its JobFinished's message


@dataclass
class JobHandle:
    job_id: int
    finished: threading.Event

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)


Body = Callable[[JobInfo], None]


@dataclass(frozen=True)
class Job:
    info: JobInfo
    body: Body
    finished: threading.Event


class JobQueue:
    """Queued and running jobs; thread-safe."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Job]] = []
        self._jobs: dict[int, JobInfo] = {}
        self._ids = itertools.count(1)
        self._cv = threading.Condition()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._closed = False

    def push(self, kind: str, priority: int, body: Body) -> JobHandle:
        info = JobInfo(next(self._ids), kind, priority)
        job = Job(info, body, threading.Event())
        with self._cv:
            self._jobs[info.job_id] = info
            heapq.heappush(self._heap, (priority, info.job_id, job))
            self._cv.notify_all()
        return JobHandle(info.job_id, job.finished)

    def pop(self, max_priority: int | None = None) -> Job | None:
        """The next job (cancelled ones included: the caller finishes those), or None when none is
        queued below ``max_priority``."""
        with self._cv:
            if self._heap and (max_priority is None or self._heap[0][0] < max_priority):
                return heapq.heappop(self._heap)[2]
            return None

    def wait_for_work(self) -> bool:
        """Block until a job is queued (True) or the queue is closed (False)."""
        with self._cv:
            while not self._heap and not self._closed:
                self._cv.wait()
            return not self._closed

    def close(self) -> None:
        """Cancel everything and wake the worker so it can return."""
        with self._cv:
            self._closed = True
            for info in self._jobs.values():
                info.cancelled = True
            self._cv.notify_all()
        self._unpaused.set()

    def cancel(self, job_id: int) -> None:
        with self._cv:
            if job_id in self._jobs:
                self._jobs[job_id].cancelled = True

    def cancel_queued(self, kind: str) -> None:
        """Cancel the jobs of ``kind`` not started yet (a newer request replaces them)."""
        with self._cv:
            for info in self._jobs.values():
                if info.kind == kind and info.state == "queued":
                    info.cancelled = True

    def get(self, job_id: int) -> JobInfo | None:
        with self._cv:
            return self._jobs.get(job_id)

    def active(self) -> list[JobInfo]:
        """Jobs queued or running, in submission order."""
        with self._cv:
            return [j for j in self._jobs.values() if j.state in ("queued", "running")]

    # -- pause --------------------------------------------------------------------------------------
    def pause(self) -> None:
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def wait_unpaused(self, timeout: float) -> bool:
        """True once the queue is not paused; False when ``timeout`` passed first."""
        return self._unpaused.wait(timeout)
