"""The batch driver: episodes -> projects -> shots on Ray actors, each project's one writer.

The driver imports each episode once (re-used when the command runs again) and reads what is still
missing from each project's own freshness records. Each project then gets its one writer, a
`ProjectWriter` actor on the driver's node. A shot goes through these steps:

1. segment, on a worker: the segmenter's per-shot tracks (`app.batch.segment`);
2. registration, in the project's writer, strictly in shot order: the tracks become project objects
   and the segment stage's layers and records are written, as `celstudio run` writes them;
3. each later stage group, on a worker (grouped by the resources their backends need: weight-free on
   CPUs anywhere, deep ones on a GPU when the cluster has one), its writes applied by the writer with
   the versions a local run gives (`apply_ops`), so the result equals `celstudio run`.

Packages and results travel writer <-> worker through Ray's object store; the driver only schedules,
retries and reports. A shot's frames are decoded once, for its segment step, and that package is
re-used by its later groups. A worker that dies (its node killed, out of memory) or a shot that
raises is retried on another worker up to ``max_attempts`` times, then reported with its reason while
the rest goes on. Running the same command again computes only what is missing.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.batch.actors import reason_of
from app.batch.resources import Profile, pool_sizes, stage_groups
from app.batch.schedule import Scheduler
from app.batch.sources import BatchError, RayMissing, discover_sources, open_or_import, project_folders, require_ray
from app.batch.state import (
    SEGMENT,
    BatchOptions,
    BatchSummary,
    Episode,
    Item,
    Timings,
    WorkerPool,
    progress_state,
    summarise,
)
from app.pipeline.graph import FRESH, ROLE_OF_STAGE, STAGES, stage_status
from app.store import Project

__all__ = [
    "BatchError",
    "BatchOptions",
    "BatchRun",
    "BatchSummary",
    "RayMissing",
    "WorkerPool",
    "discover_sources",
    "project_folders",
    "require_ray",
    "stage_groups",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]
LogFn = Callable[[str], None]


class BatchRun:
    """One run of `celstudio batch` (see the module docstring)."""

    def __init__(self, sources: list[Path], projects: Path, options: BatchOptions | None = None,
                 progress: ProgressFn | None = None, say: LogFn | None = None, warm: WorkerPool | None = None) -> None:
        """``warm``: worker actors kept from an earlier batch of this process, and kept for the next one
        (only while this process keeps Ray running: a batch that started its own instance ends it)."""
        self.sources = discover_sources(sources)
        self.projects = Path(projects).expanduser()
        self.options = options or BatchOptions()
        for stage in self.options.stages:
            if stage not in STAGES:
                raise BatchError(f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}.")
        self.progress = progress or (lambda state: None)
        self.say = say or (lambda line: log.info(line))
        self.episodes: list[Episode] = []
        self.t0 = 0.0
        self.address = ""
        self.scheduler: Scheduler | None = None
        self.warm = warm

    # -- setup --------------------------------------------------------------------------------------
    def _connect(self, ray: Any) -> None:
        opts = self.options
        if ray.is_initialized():  # a warm instance (a caller running several batches): re-used
            self.address = "existing"
            return
        if opts.address:
            try:
                ray.init(address=opts.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BatchError(f"Cannot join the Ray cluster at {opts.address} ({str(exc).splitlines()[0]}).") from exc
            self.address = opts.address
        else:
            # "local": always a new instance of this batch's own. Without it Ray joins any cluster already
            # running on this machine (another user's `ray start`, a test's cluster), as it once did here.
            ray.init(address="local", num_cpus=opts.local_cpus, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
            self.address = "local"

    def _open_episodes(self) -> None:
        self.projects.mkdir(parents=True, exist_ok=True)
        backends = self.options.backends
        for src, root in zip(self.sources, project_folders(self.sources, self.projects), strict=True):
            project, imported = open_or_import(src, root)
            with project:  # closed again: during the run only its writer opens it
                if imported:
                    self.say(f"imported {src.name}: {project.frame_count} frames, {len(project.shots)} shots -> {root}")
                todo: dict[str, set[int]] = {}
                for stage in self.options.stages:
                    codes = stage_status(project, stage, backends.get(ROLE_OF_STAGE[stage], "classical"))
                    todo[stage] = {i for i, shot in enumerate(project.shots) if (codes[shot.start : shot.end] != FRESH).any()}
                pending = sorted(set().union(*todo.values())) if todo else []
                shots = project.shots
                self.episodes.append(Episode(
                    name=root.name, source=src, root=root, frame_count=project.frame_count, imported=imported,
                    shot_frames=[s.end - s.start for s in shots], pending=pending, skipped=len(shots) - len(pending),
                    segment=sorted(todo.get("segment", set())),
                ))

    def _groups(self, ray: Any) -> list[tuple[Profile, list[str]]]:
        """The stage groups after the segment step, in pipeline order."""
        resources = ray.cluster_resources()
        later = [s for s in self.options.stages if s != "segment"]
        return stage_groups(later, self.options.backends, cpus=self.options.cpus_per_worker,
                            cluster_gpus=float(resources.get("GPU", 0)))

    def _segment_profile(self, ray: Any) -> Profile:
        resources = ray.cluster_resources()
        return stage_groups(["segment"], self.options.backends, cpus=self.options.cpus_per_worker,
                            cluster_gpus=float(resources.get("GPU", 0)))[0][0]

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> BatchSummary:
        ray = require_ray()
        self.t0 = time.monotonic()
        cpu0 = time.process_time()
        try:
            self._open_episodes()
            # Episodes interleaved, so every project's writer has work from the start (a season's
            # first episode alone would keep one writer busy and the others idle).
            queue: deque[Item] = deque()
            order = sorted((n, e, shot) for e, ep in enumerate(self.episodes) for n, shot in enumerate(ep.pending))
            for _, e, shot in order:
                ep = self.episodes[e]
                queue.append(Item(ep, shot, SEGMENT if shot in ep.segment else 0))
            if queue:  # nothing missing: no cluster needed
                self._connect(ray)
                groups = self._groups(ray)
                segment = self._segment_profile(ray) if any(ep.segment for ep in self.episodes) else None
                profiles = ([(segment, ["segment"])] if segment else []) + groups
                pools = pool_sizes(ray.cluster_resources(), profiles, self.options.workers)
                self.scheduler = Scheduler(ray, self.episodes, self.options, groups, segment, pools, self.say, self._report,
                                           self.warm if self.address == "existing" else None)
                self.scheduler.run(queue)
                self.scheduler.measure_cpu()
                self.scheduler.timings.driver_cpu_s = time.process_time() - cpu0
            if self.options.export is not None:
                for ep in self.episodes:
                    if ep.finished and not ep.failed:
                        try:
                            self._export(ray, ep)
                        except Exception as exc:  # one episode's export does not stop the others
                            ep.export_error = reason_of(exc)
                            self.say(f"{ep.name}: not exported: {ep.export_error}")
            return self._summary()
        finally:
            if self.scheduler is not None:
                self.scheduler.stop_workers(keep=self.address == "existing")
                self.scheduler.close_writers()
            if self.address not in ("", "existing"):
                ray.shutdown()

    def _report(self) -> None:
        s = self.scheduler
        assert s is not None
        workers = sum(1 for w in s.workers if w.ready)
        self.progress(progress_state(self.episodes, s.frames_done, time.monotonic() - self.t0, workers, s.shots_by_node))

    def _export(self, ray: Any, ep: Episode) -> None:
        assert self.options.export is not None
        fmt, out = self.options.export
        if ep.writer is not None:
            ray.get(ep.writer.export.remote(fmt, str(Path(out) / ep.name)))
        else:  # nothing ran now, so no writer holds the project: export it here
            from app.export import export_project

            with Project.open(ep.root) as project:
                export_project(project, Path(out) / ep.name, format=fmt)
        self.say(f"{ep.name}: exported as {fmt} to {Path(out) / ep.name}")

    def _summary(self) -> BatchSummary:
        s = self.scheduler
        timings = s.timings if s is not None else Timings()
        if s is not None and s.first_ready:
            timings.startup_s = s.first_ready - self.t0
        return summarise(self.episodes, frames=s.frames_done if s else 0, seconds=time.monotonic() - self.t0,
                         retries=s.retries if s else 0, workers=sorted(s.seen_workers) if s else [],
                         address=self.address, timings=timings)

