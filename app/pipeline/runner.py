"""The pipeline runner: one long-lived worker thread that owns the device and runs jobs by priority.

Interactive jobs (a click, a brush stroke, the frame the user is looking at) jump ahead of batch work;
batch work yields between frames (`RunContext.checkpoint`), where it can also be paused or cancelled.
Results drain to the store through the write queue on its own thread (`app.pipeline.writes`), and
frames are decoded ahead on a prefetch thread (`ShotFrames`). Nothing here touches Qt: views subscribe
to the runner's events and the store's. The parts: `worker` (the thread and the events), `jobs` (queue
and job state), `context` (what a job sees), `backends` (settings, device, loading, memory), `writes`
(the write path); this module is the submit API and how a run walks stages and shots.
"""

from __future__ import annotations

import shutil
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from app.pipeline import interactive
from app.pipeline.backends import Backends, PipelineSettings
from app.pipeline.carry import MasksBefore, carry_unchanged, kind_changed, masks_before
from app.pipeline.context import RunContext
from app.pipeline.events import PipelineListener
from app.pipeline.graph import (
    DOWNSTREAM_OF_MASKS,
    KIND_STAGES,
    ROLE_OF_STAGE,
    RUNNING,
    STAGES,
    STALE,
    frames_to_compute,
    stage_status,
)
from app.pipeline.jobs import BATCH, INTERACTIVE, PREPARE, Body, Cancelled, JobHandle, JobInfo
from app.pipeline.stages import STAGE_FUNCTIONS
from app.pipeline.stages.shot import ShotAnalyses
from app.pipeline.worker import Worker
from app.store import JournalEntry, Project, Shot
from app.store.h5 import disk_full
from app.store.history_text import click_outcome, edit_outcome, history_outcome
from app.store.retire import retire_replaced
from models.base import Backend, PreparesImages, Prompt

__all__ = [
    "BATCH", "INTERACTIVE", "PREPARE", "Cancelled", "JobHandle", "JobInfo", "PipelineRunner", "PipelineSettings",
    "ensure_free_space",
]


class PipelineRunner:
    """Runs stages and corrections on one project in a background worker thread."""

    def __init__(self, project: Project, settings: PipelineSettings | None = None,
                 backends: Mapping[str, object] | None = None) -> None:
        """``backends`` pre-sets role -> backend instances (scripting and tests); others load lazily."""
        self.project = project
        self.settings = settings or PipelineSettings(dict(project.manifest.settings.get("backends", {})))
        self.backends = Backends(self.settings, backends)
        self._worker = Worker(after_job=self.backends.relieve_memory)
        self._running_frames: dict[str, set[int]] = {}
        # Re-runs after edits not started yet, by (stages, priority): a later request joins its frames.
        self._queued_updates: dict[tuple[tuple[str, ...], int], tuple[JobHandle, set[int]]] = {}
        self._updates_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> PipelineRunner:
        self._worker.start()
        # The one runner that owns this project's writes; work for others (an export bringing stale
        # frames up to date) goes through it rather than through a second runner.
        self.project.runner = self
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._worker.stop(timeout)
        if self.project.runner is self:
            self.project.runner = None
        self.release_models()

    def subscribe(self, listener: PipelineListener) -> Callable[[], None]:
        """Job events (progress, end, failed frames). What a job writes is announced by the store
        (`app.store.events.LayerWritten`, `Committed`), once per write."""
        return self._worker.subscribe(listener)

    @property
    def notices(self) -> list[str]:
        """Why a requested backend is not in use (it fell back on the weight-free one)."""
        return self.backends.notices

    # -- submitting ---------------------------------------------------------------------------------
    def _submit(self, kind: str, priority: int, body: Body) -> JobHandle:
        return self._worker.submit(kind, priority, body)

    def _context(self, info: JobInfo) -> RunContext:
        w = self._worker
        return RunContext(self.project, info, backends=self.backends, jobs=w.queue, writes=w.writes, emit=w.emit,
                          serve_interactive=w.serve_interactive)

    def submit_run(self, stages: list[str] | None = None, shots: list[int] | None = None, *, force: bool = False) -> JobHandle:
        chosen = [s for s in STAGES if stages is None or s in stages]
        picked = [self.project.shots[i] for i in shots] if shots is not None else list(self.project.shots)
        return self._submit("run", BATCH, lambda info: self._run_stages(info, chosen, picked, None, force))

    def submit_frames(self, frames: list[int], stages: tuple[str, ...] = DOWNSTREAM_OF_MASKS, *, priority: int = INTERACTIVE) -> JobHandle:
        """Re-run ``stages`` for ``frames`` where stale (the downstream re-run after a correction).

        A re-run of the same stages at the same priority that is still queued takes ``frames`` too
        (its handle is returned): three Ctrl+Z in a row queue one update, not three, each of which
        would walk the stages again for frames the first one made fresh."""
        key = (tuple(stages), priority)
        with self._updates_lock:
            queued = self._queued_updates.get(key)
            if queued is not None:
                info_now = self._worker.queue.get(queued[0].job_id)
                if info_now is not None and info_now.state == "queued" and not info_now.cancelled:
                    queued[1].update(frames)
                    return queued[0]
            wanted = set(frames)

            def body(info: JobInfo) -> None:
                with self._updates_lock:  # from here on no other request joins this one
                    if self._queued_updates.get(key, (None,))[0] is handle:
                        del self._queued_updates[key]
                shots = sorted({(s.start, s.end) for s in (self.project.shot_of(f) for f in wanted)})
                seq = self.project.journal.last_seq
                self._run_stages(info, list(stages), [Shot(a, b) for a, b in shots], wanted, False)
                if self.project.journal.last_seq != seq:
                    # An edit served between this job's frames (batch work serves them) changed masks this
                    # job had read: what it wrote for those frames is stale. They run again, once per edit.
                    codes = [self.stage_status(stage) for stage in stages]
                    again = [f for f in sorted(wanted) if any(c[f] == STALE for c in codes)]
                    if again:
                        self.submit_frames(again, stages, priority=priority)

            handle = self._submit("update", priority, body)
            self._queued_updates[key] = (handle, wanted)
            return handle

    def submit_click(self, frame: int, object_id: int, prompt: Prompt) -> JobHandle:
        def body(info: JobInfo) -> None:
            before = masks_before(self.project)
            entry = interactive.click_correction(self.project, self.backends.get("clicker"), frame, object_id, prompt)
            info.outcome = click_outcome(self.project, entry)
            self._after_commit(entry.frames, before, [entry])

        return self._submit("click", INTERACTIVE, body)

    def submit_brush(self, frame: int, object_id: int, stroke: np.ndarray, erase: bool = False) -> JobHandle:
        def body(info: JobInfo) -> None:
            before = masks_before(self.project)
            entry = interactive.brush_correction(self.project, frame, object_id, np.asarray(stroke, bool), erase)
            self._after_commit(entry.frames, before, [entry])

        return self._submit("brush", INTERACTIVE, body)

    def submit_prepare(self, frame: int, radius: int = 1) -> JobHandle:
        """Compute the click model's image embeddings ahead for ``frame`` and its neighbours in the
        shot (SAM's encoder is the slow part of a click); a no-op for clickers with nothing to
        prepare. Only the latest request matters: older ones still queued are dropped."""
        self._worker.queue.cancel_queued("prepare")
        shot = self.project.shot_of(frame)
        wanted = [frame] + [f for d in range(1, radius + 1) for f in (frame + d, frame - d) if f in shot]

        def body(info: JobInfo) -> None:
            clicker = self.backends.get("clicker")  # loaded here, on the worker, never on the caller's thread
            if not isinstance(clicker, PreparesImages):
                return
            for f in wanted:
                if info.cancelled:
                    raise Cancelled
                clicker.precompute(f"frame-{f}", self.project.frame(f))

        return self._submit("prepare", PREPARE, body)

    def submit_propagate(self, frame: int, direction: interactive.Direction = "both") -> JobHandle:
        """Propagate the corrected ``frame`` through its shot. Chunks are written (and so shown) as
        they come, through the same write path as the propagate stage's; the journal entry at the end
        makes them the user's and undoable. A cancelled propagation keeps (journals) what it showed; a
        failed one (the propagator, a write or the journal) puts the frames back as they were."""
        return self._submit("propagate", INTERACTIVE, lambda info: self._propagate(info, frame, direction))

    def _propagate(self, info: JobInfo, frame: int, direction: interactive.Direction) -> None:
        run = interactive.InteractivePropagation(
            self.project, self.backends.get("propagator"), frame, direction, chunk=self.settings.propagation_chunk)
        info.total = len(run.targets)
        ctx = self._context(info)
        shown: list[int] = []

        def unshow() -> None:
            for f in shown:
                ctx.restore("masks", f, *run.previous(f))
                ctx.restore("confidence", f, *run.previous_confidence(f))
            ctx.drain()

        cancelled = False
        try:
            for chunk in run.chunks():
                for f, labels, confidence in zip(chunk.frames, chunk.labels, chunk.confidence, strict=True):
                    ctx.write("masks", f, labels, {"stage": "propagate", "from": frame})
                    ctx.write("confidence", f, confidence, {"stage": "propagate", "from": frame})
                shown += chunk.frames
                ctx.checkpoint("propagate", chunk.frames[-1], count=len(chunk.frames))
        except Cancelled:
            cancelled = True
        except Exception:
            unshow()
            raise
        ctx.drain()  # the streamed writes land before the journal's, never after
        try:
            if info.write_error is not None:
                raise info.write_error
            entry = run.commit()
        except Exception:
            unshow()  # not journalled (a full disk, say): what was shown must not look applied
            raise
        if entry is not None:
            self._after_commit(entry.frames)
        if cancelled:
            raise Cancelled

    def submit_delete_object(self, object_id: int, shot: int | None = None) -> JobHandle:
        """Remove an object from every frame (or the shot of frame ``shot``); journalled, so undo
        brings it back; downstream re-runs."""
        return self.submit_object_edit(lambda project: project.delete_object(object_id, shot=shot), "delete")

    def submit_object_edit(self, edit: Callable[[Project], object], kind: str = "objects") -> JobHandle:
        """Run an object edit (``edit(project)`` calling `app.store.objects.ObjectStore`: rename, merge,
        split, reassign, delete) on the worker, then re-run what its rewritten masks made stale."""

        def body(info: JobInfo) -> None:
            seq = self.project.journal.last_seq
            before = masks_before(self.project)
            edit(self.project)
            made = list(self.project.journal.since(seq))
            frames = tuple(sorted({f for e in made for f in e.frames}))
            info.outcome = edit_outcome(self.project, made)
            self._after_commit(frames, before, made)

        return self._submit(kind, INTERACTIVE, body)

    def undo(self) -> JobHandle:
        """Undo the latest edit when the job runs (after the jobs queued before it); the job's
        `JobFinished` message says what it undid, or "Nothing to undo." (`history_outcome`)."""
        return self._submit("undo", INTERACTIVE, lambda info: self._history(info, "undo"))

    def redo(self) -> JobHandle:
        return self._submit("redo", INTERACTIVE, lambda info: self._history(info, "redo"))

    def _history(self, info: JobInfo, which: str) -> None:
        before = masks_before(self.project)
        entry = self.project.undo() if which == "undo" else self.project.redo()
        info.outcome = history_outcome(self.project, which, entry)
        if entry is not None:
            self._after_commit(entry.frames, before, [entry])

    def _after_commit(self, frames: tuple[int, ...], before: MasksBefore | None = None,
                      entries: list[JournalEntry] | None = None) -> None:
        # The commit announced itself (`Committed`, and a `LayerWritten` per frame); what it made
        # stale downstream runs next. One frame (a click, a stroke) at once; more (a merge or a
        # propagation through a shot: 656 steps, 20-30 min on konobi_s01e007 under load) as batch work,
        # which serves the user's next edits between its frames instead of holding them until it ends.
        # Results the edit's maps leave standing (`app.pipeline.carry`: a merge of two characters
        # changes what annotate reads, not the matte, effects or plate) are carried, not re-run.
        # A kind change (or its undo) rewrites no map: the stages that read kinds re-run where the
        # object is, from propagate on (`graph.KIND_VIEWS`); each only where its result is stale.
        if before is not None and entries:
            carry_unchanged(self.project, before, entries, self.settings.backend_name)
        if frames:
            self.submit_frames(list(frames), priority=INTERACTIVE if len(frames) <= 1 else BATCH)
        if before is not None and (kinds := kind_changed(self.project, before)):
            self.submit_frames(kinds, KIND_STAGES, priority=INTERACTIVE if len(kinds) <= 1 else BATCH)

    # -- control ------------------------------------------------------------------------------------
    def cancel(self, job_id: int) -> None:
        self._worker.queue.cancel(job_id)

    def cancel_all(self) -> None:
        for info in self.jobs():
            self.cancel(info.job_id)

    def pause(self) -> None:
        self._worker.queue.pause()

    def resume(self) -> None:
        self._worker.queue.resume()

    @property
    def paused(self) -> bool:
        return self._worker.queue.paused

    def jobs(self) -> list[JobInfo]:
        return self._worker.queue.active()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no job is queued or running and every write has landed (tests, CLI)."""
        return self._worker.wait_idle(timeout)

    def serve_interactive(self) -> None:
        """Run waiting interactive jobs now (scripts driving their own batch loop)."""
        self._worker.serve_interactive()

    def stage_status(self, stage: str) -> np.ndarray:
        codes = stage_status(self.project, stage, self.settings.backend_name(ROLE_OF_STAGE[stage]))
        for frame in tuple(self._running_frames.get(stage, ())):  # a copy: run_shots changes it
            codes[frame] = RUNNING
        return codes

    # -- backends -----------------------------------------------------------------------------------
    def device(self) -> str:
        """The device this runner's deep backends run on (`models.device.choose_device`)."""
        return self.backends.device()

    @property
    def device_in_use(self) -> str | None:
        """The device once chosen (None before: asking never imports torch)."""
        return self.backends.device_in_use

    def backend(self, role: str) -> Backend:
        """The loaded backend for ``role``; a deep one without weights falls back with a notice."""
        return self.backends.get(role)

    def release_models(self) -> None:
        self.backends.release()

    # -- stages -----------------------------------------------------------------------------------
    def _run_stages(self, info: JobInfo, stages: list[str], shots: list[Shot], frames: set[int] | None, force: bool) -> None:
        ctx = self._context(info)
        todo = sum(len(t) for stage in stages for _, t in self._targets(stage, shots, frames, force))
        info.total += todo
        # Refuse a run the disk cannot hold before writing anything, rather than failing half-way.
        ensure_free_space(self.project.root, todo * self.project.width * self.project.height // 2)
        analyses = ctx.shot_analyses = ShotAnalyses()
        try:
            for stage in stages:
                # Statuses are read once per stage (one bulk read), after the stage before it has landed.
                runs = self._targets(stage, shots, frames, force)
                running = self._running_frames[stage] = set()
                try:
                    together = stage in SHOTS_TOGETHER and len(runs) > 1 and ctx.workers(ROLE_OF_STAGE[stage]) > 1
                    run_shots(ctx, stage, runs, threads=2 if together else 1, running=running)
                finally:
                    self._running_frames.pop(stage, None)
                ctx.drain()  # the next stage reads what this one wrote
                if stage in ("segment", "propagate"):
                    # Undo history whose frames or track links this stage replaced leaves the stacks
                    # (`app.store.retire`); then objects a re-run of stage 1 no longer finds, that the
                    # user never touched (nor can bring back), leave the list.
                    retire_replaced(self.project)
                    self.project.objects.drop_unseen()
        finally:
            analyses.close()

    def _targets(self, stage: str, shots: list[Shot], frames: set[int] | None, force: bool) -> list[tuple[Shot, list[int]]]:
        """The frames of each shot that ``stage`` must compute (all of them when forced)."""
        wanted = [f for shot in shots for f in range(shot.start, shot.end) if frames is None or f in frames]
        backend = self.settings.backend_name(ROLE_OF_STAGE[stage])
        todo = frames_to_compute(self.project, stage, wanted, backend, force=force)
        spans = [(shot, todo[bisect_left(todo, shot.start) : bisect_left(todo, shot.end)]) for shot in shots]
        return [(shot, span) for shot, span in spans if span]


# Stages whose shots read nothing another shot of the same stage writes run two shots at once (when
# weight-free: a deep backend already fills the device): each stage has one-thread parts (a shot's
# propagation chain, a matte's solve, the stage's own bookkeeping) that would leave a core idle.
# The segment stage registers each shot's tracks as objects in shot order, so its shots run in turn.
SHOTS_TOGETHER = frozenset({"propagate", "matte", "effects", "inpaint", "annotate"})


def run_shots(
    ctx: RunContext, stage: str, runs: list[tuple[Shot, list[int]]], *, threads: int = 1, running: set[int] | None = None,
) -> None:
    """Run ``stage`` on each shot of ``runs`` (its targets there), taking shots in order on ``threads``
    threads: this one (the worker's, which serves interactive jobs at its checkpoints) and helpers
    with a context that does not (`RunContext.beside`). Each shot's results are what running it
    alone gives. The next shot's camera is analysed ahead while a shot computes (`ShotAnalyses`).
    A helper's failure (a cancel at its checkpoint) stops the others taking shots and is raised
    here once every thread has stopped. ``running`` holds the targets of the shots under way."""
    running = set() if running is None else running
    lock = threading.Lock()
    todo = iter(enumerate(runs))
    stop = threading.Event()

    def work(context: RunContext) -> None:
        while not stop.is_set():
            with lock:
                item = next(todo, None)
            if item is None:
                return
            i, (shot, targets) = item
            if i + 1 < len(runs) and context.shot_analyses is not None:
                context.shot_analyses.start(context, stage, runs[i + 1][0])
            with lock:
                running.update(targets)
            try:
                STAGE_FUNCTIONS[stage](context, shot, targets)
            except BaseException:
                stop.set()
                raise
            finally:
                with lock:
                    running.difference_update(targets)

    helpers = max(0, min(threads, len(runs)) - 1)
    if not helpers:
        work(ctx)
        return
    with ThreadPoolExecutor(helpers, thread_name_prefix=f"shots-{stage}") as pool:
        futures = [pool.submit(work, ctx.beside()) for _ in range(helpers)]
        try:
            work(ctx)
        finally:
            # Clicks still jump ahead while a helper finishes its shot.
            while wait(futures, timeout=0.05).not_done:
                ctx.serve_waiting()
    for future in futures:
        future.result()


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
