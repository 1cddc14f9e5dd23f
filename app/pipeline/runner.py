"""The pipeline runner: one long-lived worker thread that owns the device and runs jobs by priority.

Interactive jobs (a click, a brush stroke, the frame the user is looking at) jump ahead of batch work;
batch work yields between frames (`_Context.checkpoint`), where it can also be paused or cancelled.
Results drain to the store through a bounded writer queue on its own thread, and frames are decoded
ahead on a prefetch thread (`ShotFrames`). Nothing here touches Qt: views subscribe to events.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import shutil
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import CelstudioError
from app.pipeline import interactive
from app.pipeline.events import FrameFailed, FramesChanged, JobFinished, JobProgress, PipelineEvent, PipelineListener
from app.pipeline.frames import ShotFrames
from app.pipeline.graph import (
    DOWNSTREAM_OF_MASKS,
    ROLE_OF_STAGE,
    RUNNING,
    STAGES,
    frames_to_compute,
    record_name,
    stage_status,
)
from app.pipeline.stages import STAGE_FUNCTIONS
from app.store import Project, Shot
from app.store.h5 import disk_full
from models.base import Prompt

log = logging.getLogger(__name__)
INTERACTIVE, PREPARE, BATCH = 0, 5, 10


class Cancelled(Exception):
    """Raised inside a job at a checkpoint after `PipelineRunner.cancel`."""


@dataclass
class PipelineSettings:
    """Backend per role (``classical`` unless weights are installed), device and batch sizes."""

    backends: dict[str, str] = field(default_factory=dict)
    device: str = "auto"
    batch_size: int = 4
    propagation_chunk: int = 12
    propagate_override: float | None = None  # see app.pipeline.stages.run_propagate
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    low_memory_bytes: int = 1_500_000_000

    def backend_name(self, role: str) -> str:
        return self.backends.get(role, "classical")


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
    write_error: BaseException | None = field(default=None, repr=False)  # the first failed write of this job


@dataclass
class JobHandle:
    job_id: int
    finished: threading.Event

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)


class PipelineRunner:
    """Runs stages and corrections on one project in a background worker thread."""

    def __init__(self, project: Project, settings: PipelineSettings | None = None, backends: dict[str, Any] | None = None) -> None:
        """``backends`` pre-sets role -> backend instances (scripting and tests); others load lazily."""
        self.project = project
        self.settings = settings or PipelineSettings(dict(project.manifest.settings.get("backends", {})))
        self.notices: list[str] = []
        self._listeners: list[PipelineListener] = []
        self._heap: list[tuple[int, int, JobInfo, Callable[[JobInfo], None], threading.Event]] = []
        self._jobs: dict[int, JobInfo] = {}
        self._ids = itertools.count(1)
        self._cv = threading.Condition()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._stop = False
        self._backends: dict[str, Any] = dict(backends or {})
        self._running_frames: dict[str, set[int]] = {}
        self._writes: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=32)
        self._worker = threading.Thread(target=self._work, name="pipeline-worker", daemon=True)
        self._writer = threading.Thread(target=self._drain_writes, name="pipeline-writer", daemon=True)
        self._current: list[JobInfo] = []

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> PipelineRunner:
        if not self._worker.is_alive():
            self._worker.start()
            self._writer.start()
        # The one runner that owns this project's writes; work for others (an export bringing stale
        # frames up to date) goes through it rather than through a second runner.
        self.project.runner = self
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            for info in self._jobs.values():
                info.cancelled = True
            self._cv.notify_all()
        self._unpaused.set()
        if self._worker.is_alive():
            self._worker.join(timeout)
        if self._writer.is_alive():
            self._writes.put(None)
            self._writer.join(timeout)
        if self.project.runner is self:
            self.project.runner = None
        self.release_models()

    def subscribe(self, listener: PipelineListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: PipelineEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("pipeline listener failed")

    # -- submitting ---------------------------------------------------------------------------------
    def _submit(self, kind: str, priority: int, body: Callable[[JobInfo], None]) -> JobHandle:
        info = JobInfo(next(self._ids), kind, priority)
        done = threading.Event()
        with self._cv:
            self._jobs[info.job_id] = info
            heapq.heappush(self._heap, (priority, info.job_id, info, body, done))
            self._cv.notify_all()
        return JobHandle(info.job_id, done)

    def submit_run(self, stages: list[str] | None = None, shots: list[int] | None = None, *, force: bool = False) -> JobHandle:
        chosen = [s for s in STAGES if stages is None or s in stages]
        picked = [self.project.shots[i] for i in shots] if shots is not None else list(self.project.shots)
        return self._submit("run", BATCH, lambda info: self._run_stages(info, chosen, picked, None, force))

    def submit_frames(self, frames: list[int], stages: tuple[str, ...] = DOWNSTREAM_OF_MASKS, *, priority: int = INTERACTIVE) -> JobHandle:
        """Re-run ``stages`` for ``frames`` where stale (the downstream re-run after a correction)."""
        shots = sorted({(s.start, s.end) for s in (self.project.shot_of(f) for f in frames)})
        picked = [Shot(a, b) for a, b in shots]
        wanted = set(frames)
        return self._submit("update", priority, lambda info: self._run_stages(info, list(stages), picked, wanted, False))

    def submit_click(self, frame: int, object_id: int, prompt: Prompt) -> JobHandle:
        def body(info: JobInfo) -> None:
            entry = interactive.click_correction(self.project, self.backend("clicker"), frame, object_id, prompt)
            self._after_commit(entry.frames)

        return self._submit("click", INTERACTIVE, body)

    def submit_brush(self, frame: int, object_id: int, stroke: np.ndarray, erase: bool = False) -> JobHandle:
        def body(info: JobInfo) -> None:
            entry = interactive.brush_correction(self.project, frame, object_id, np.asarray(stroke, bool), erase)
            self._after_commit(entry.frames)

        return self._submit("brush", INTERACTIVE, body)

    def submit_prepare(self, frame: int, radius: int = 1) -> JobHandle:
        """Compute the click model's image embeddings ahead for ``frame`` and its neighbours in the
        shot (SAM's encoder is the slow part of a click); a no-op for clickers with nothing to
        prepare. Only the latest request matters: older ones still queued are dropped."""
        with self._cv:
            for info in self._jobs.values():
                if info.kind == "prepare" and info.state == "queued":
                    info.cancelled = True
        shot = self.project.shot_of(frame)
        wanted = [frame] + [f for d in range(1, radius + 1) for f in (frame + d, frame - d) if f in shot]

        def body(info: JobInfo) -> None:
            clicker = self.backend("clicker")  # loaded here, on the worker, never on the caller's thread
            if not hasattr(clicker, "precompute"):
                return
            for f in wanted:
                if info.cancelled:
                    raise Cancelled
                clicker.precompute(f"frame-{f}", self.project.frame(f))

        return self._submit("prepare", PREPARE, body)

    def submit_propagate(self, frame: int, direction: interactive.Direction = "both") -> JobHandle:
        def body(info: JobInfo) -> None:
            _, _, targets = interactive.propagation_range(self.project, frame, direction)
            info.total = len(targets)
            ctx = _Context(self, info)
            shown: dict[int, tuple[np.ndarray | None, dict[str, Any]]] = {}  # frame -> masks before

            def streamed(part: list[int], labels: list[np.ndarray]) -> None:
                # Shown at once; the journal entry at the end makes them the user's (and undoable).
                for f, lab in zip(part, labels, strict=True):
                    if f not in shown:
                        shown[f] = (self.project.layers.read("masks", f), self.project.layers.meta("masks", f))
                    self.project.layers.write("masks", f, lab, {"source": "pipeline", "stage": "propagate"})
                self._emit(FramesChanged("masks", tuple(part)))
                ctx.checkpoint("propagate", part[-1], count=len(part))

            try:
                entry = interactive.propagate_from(
                    self.project, self.backend("propagator"), frame, direction,
                    chunk=self.settings.propagation_chunk, on_chunk=streamed,
                )
            except CelstudioError:
                # Not journalled (a full disk, say): what was shown must not look applied.
                self._unshow(shown)
                raise
            if entry is not None:
                self._after_commit(entry.frames)

        return self._submit("propagate", INTERACTIVE, body)

    def _unshow(self, shown: dict[int, tuple[np.ndarray | None, dict[str, Any]]]) -> None:
        """Put back the masks a failed propagation streamed to the view (best effort: the disk may
        still be full, and then the frames are marked for a re-run instead)."""
        for f, (before, meta) in shown.items():
            try:
                if before is None:
                    self.project.layers.forget("masks", f)
                else:
                    self.project.layers.write("masks", f, before, meta)
            except CelstudioError:
                log.warning("could not restore the masks of frame %s", f)
                try:
                    self.project.layers.forget("masks", f)
                except CelstudioError:
                    log.warning("could not mark frame %s for a re-run", f)
        if shown:
            self._emit(FramesChanged("masks", tuple(sorted(shown))))

    def submit_delete_object(self, object_id: int, shot: int | None = None) -> JobHandle:
        """Remove an object from every frame (or the shot of frame ``shot``); journalled, so undo
        brings it back; downstream re-runs."""
        return self.submit_object_edit(lambda project: project.delete_object(object_id, shot=shot), "delete")

    def submit_object_edit(self, edit: Callable[[Project], Any], kind: str = "objects") -> JobHandle:
        """Run an object edit (``edit(project)`` calling `app.store.objects.ObjectStore`: rename, merge,
        split, reassign, delete) on the worker, then re-run what its rewritten masks made stale."""

        def body(info: JobInfo) -> None:
            seq = self.project.journal.last_seq
            edit(self.project)
            frames = tuple(sorted({f for e in self.project.journal.since(seq) for f in e.frames}))
            self._after_commit(frames)

        return self._submit(kind, INTERACTIVE, body)

    def undo(self) -> JobHandle:
        return self._submit("undo", INTERACTIVE, lambda info: self._history(self.project.undo))

    def redo(self) -> JobHandle:
        return self._submit("redo", INTERACTIVE, lambda info: self._history(self.project.redo))

    def _history(self, action: Callable[[], Any]) -> None:
        entry = action()
        if entry is not None:
            self._after_commit(entry.frames)

    def _after_commit(self, frames: tuple[int, ...]) -> None:
        self._emit(FramesChanged("masks", frames))
        if frames:
            self.submit_frames(list(frames))

    # -- control ------------------------------------------------------------------------------------
    def cancel(self, job_id: int) -> None:
        with self._cv:
            if job_id in self._jobs:
                self._jobs[job_id].cancelled = True

    def cancel_all(self) -> None:
        for info in self.jobs():
            self.cancel(info.job_id)

    def pause(self) -> None:
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def jobs(self) -> list[JobInfo]:
        with self._cv:
            return [j for j in self._jobs.values() if j.state in ("queued", "running")]

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no job is queued or running and every write has landed (tests, CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.jobs():
                self._writes.join()
                if not self.jobs():
                    return True
            time.sleep(0.01)
        return False

    def stage_status(self, stage: str) -> np.ndarray:
        codes = stage_status(self.project, stage, self.settings.backend_name(ROLE_OF_STAGE[stage]))
        for frame in self._running_frames.get(stage, set()):
            codes[frame] = RUNNING
        return codes

    # -- backends -----------------------------------------------------------------------------------
    def device(self) -> str:
        weight_free = all(self.settings.backend_name(r) == "classical" for r in ROLE_OF_STAGE.values())
        if self.settings.device == "cpu" or (self.settings.device == "auto" and weight_free):
            return "cpu"  # no torch import for a weight-free run
        from models.torch_utils import pick_device  # the one place a device is chosen

        return pick_device(self.settings.device)

    def backend(self, role: str) -> Any:
        """The loaded backend for ``role``; a deep one without weights falls back with a notice."""
        if role not in self._backends:
            from models.registry import create_with_fallback

            backend, message = create_with_fallback(role, self.settings.backend_name(role), device=self.device(), batch_size=self.settings.batch_size)  # type: ignore[arg-type]
            if message:
                self.notices.append(message)
                self.settings.backends[role] = "classical"
                log.warning(message)
            self._backends[role] = backend
        return self._backends[role]

    def release_models(self) -> None:
        for backend in self._backends.values():
            try:
                backend.release()
            except Exception:
                log.exception("release failed")
        self._backends.clear()

    def _relieve_memory(self) -> None:
        import psutil

        if psutil.virtual_memory().available < self.settings.low_memory_bytes:
            self.release_models()

    # -- the worker ---------------------------------------------------------------------------------
    def _next_job(self, max_priority: int | None = None) -> tuple[JobInfo, Callable[[JobInfo], None], threading.Event] | None:
        with self._cv:
            while self._heap and (max_priority is None or self._heap[0][0] < max_priority):
                _, _, info, body, done = heapq.heappop(self._heap)
                if info.cancelled:
                    self._finish(info, done, "cancelled")
                    continue
                return info, body, done
            return None

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
            job = self._next_job()
            if job is not None:
                self._execute(*job)

    def _execute(self, info: JobInfo, body: Callable[[JobInfo], None], done: threading.Event) -> None:
        info.state, info.started = "running", time.monotonic()
        self._current.append(info)
        status, message = "done", ""
        try:
            body(info)
            self._writes.join()
        except Cancelled:
            status = "cancelled"
        except CelstudioError as exc:
            # Written for the user, who gets it with the job's end; no traceback in a terminal.
            log.info("job %s failed: %s", info.kind, exc)
            status, message = "failed", str(exc)
        except Exception as exc:
            log.exception("job %s failed", info.kind)
            status, message = "failed", str(exc) or type(exc).__name__
        finally:
            self._current.remove(info)
        if info.write_error is not None:
            # A result that did not reach the disk fails its job, whatever the job body thought.
            self._writes.join()
            status, message = "failed", _describe(info.write_error)
        self._finish(info, done, status, message)
        self._relieve_memory()

    def _finish(self, info: JobInfo, done: threading.Event, status: str, message: str = "") -> None:
        info.state, info.message = status, message
        done.set()
        self._emit(JobFinished(info.job_id, info.kind, status, message))

    def serve_interactive(self) -> None:
        """Run waiting interactive jobs now (called by batch work between frames)."""
        while True:
            job = self._next_job(max_priority=BATCH)
            if job is None:
                return
            self._execute(*job)

    def _run_stages(self, info: JobInfo, stages: list[str], shots: list[Shot], frames: set[int] | None, force: bool) -> None:
        ctx = _Context(self, info)
        todo = sum(len(t) for stage in stages for _, t in self._targets(stage, shots, frames, force))
        info.total += todo
        # Refuse a run the disk cannot hold before writing anything, rather than failing half-way.
        ensure_free_space(self.project.root, todo * self.project.width * self.project.height // 2)
        for stage in stages:
            # Statuses are read once per stage (one bulk read), after the stage before it has landed.
            for shot, targets in self._targets(stage, shots, frames, force):
                self._running_frames[stage] = set(targets)
                try:
                    STAGE_FUNCTIONS[stage](ctx, shot, targets)
                finally:
                    self._running_frames.pop(stage, None)
            ctx.drain()  # the next stage reads what this one wrote

    def _targets(self, stage: str, shots: list[Shot], frames: set[int] | None, force: bool) -> list[tuple[Shot, list[int]]]:
        """The frames of each shot that ``stage`` must compute (all of them when forced)."""
        wanted = [f for shot in shots for f in range(shot.start, shot.end) if frames is None or f in frames]
        backend = self.settings.backend_name(ROLE_OF_STAGE[stage])
        todo = frames_to_compute(self.project, stage, wanted, backend, force=force)
        spans = [(shot, todo[bisect_left(todo, shot.start) : bisect_left(todo, shot.end)]) for shot in shots]
        return [(shot, span) for shot, span in spans if span]

    def _drain_writes(self) -> None:
        while True:
            task = self._writes.get()
            try:
                if task is None:
                    return
                task()
            except Exception:
                log.exception("write failed")
            finally:
                self._writes.task_done()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CelstudioError):
        return str(exc)
    return f"A result could not be written ({type(exc).__name__}: {exc})."


def ensure_free_space(folder: Path, needed_bytes: int) -> None:
    """Raise `DiskFull` when ``folder``'s disk has less than ``needed_bytes`` (plus a margin) free."""
    needed = needed_bytes + FREE_SPACE_MARGIN
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # unknown: let the writes themselves report a full disk
    if free < needed:
        raise disk_full(folder, needed - free)


FREE_SPACE_MARGIN = 32 << 20  # HDF5 and SQLite need room to finish a write cleanly


class _Context:
    """What a stage function sees of the runner (see `app.pipeline.stages.StageContext`)."""

    def __init__(self, runner: PipelineRunner, info: JobInfo) -> None:
        self.runner = runner
        self.project = runner.project
        self.info = info

    def backend(self, role: str) -> Any:
        return self.runner.backend(role)

    def backend_name(self, role: str) -> str:
        self.runner.backend(role)  # resolves a fallback first, so records name the backend really used
        return self.runner.settings.backend_name(role)

    def frames(self, indices: list[int]) -> ShotFrames:
        return ShotFrames(self.project, indices)

    def option(self, name: str) -> Any:
        return getattr(self.runner.settings, name)

    def workers(self, role: str) -> int:
        # Weight-free backends are stateless numpy/OpenCV code; a deep one already fills the device.
        return self.runner.settings.workers if self.backend_name(role) == "classical" else 1

    def _put(self, task: Callable[[], None]) -> None:
        """Queue a write for the writer thread. After this job's first failed write, its later writes
        are dropped: a record must never say "fresh" for a frame whose result is not on disk, and a
        full disk is not written to again and again."""
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

        self.runner._writes.put(guarded)

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        def task() -> None:
            self.project.layers.write(layer, frame, array, {"source": "pipeline", **(meta or {})})
            self.runner._emit(FramesChanged(layer, (frame,)))

        self._put(task)

    def done(self, stage: str, frame: int, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        record = {"status": "ok", "inputs": inputs, **(extra or {})}
        self._put(lambda: self.project.layers.write_record(record_name(stage), frame, record))

    def failed(self, stage: str, frame: int, inputs: dict[str, Any], reason: str) -> None:
        record = {"status": "failed", "inputs": inputs, "error": reason}
        self._put(lambda: self.project.layers.write_record(record_name(stage), frame, record))
        self.runner._emit(FrameFailed(stage, frame, reason))

    def drain(self) -> None:
        self.runner._writes.join()

    def checkpoint(self, stage: str, frame: int, count: int = 1) -> None:
        info = self.info
        if info.write_error is not None:
            raise info.write_error  # stop computing results that cannot be stored
        info.done += count
        elapsed = max(time.monotonic() - info.started, 1e-6)
        info.fps = info.done / elapsed
        info.eta_s = (info.total - info.done) / info.fps if info.fps > 0 else 0.0
        self.runner._emit(JobProgress(info.job_id, info.kind, stage, frame, info.done, info.total, info.fps, info.eta_s))
        if info.priority >= BATCH:
            self.runner.serve_interactive()
        while not self.runner._unpaused.wait(0.05):
            if info.cancelled:
                break
            self.runner.serve_interactive()
        if info.cancelled:
            raise Cancelled
