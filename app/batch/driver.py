"""The batch driver: episodes -> projects -> shots on Ray actors, each project's one writer.

The driver imports each episode once (re-used when the command runs again) and reads what is still
missing from each project's own freshness records. Each project then gets its one writer, a
`ProjectWriter` actor on the driver's node: it packs a shot (`ShotPackage`) for a worker actor, and
applies the writes the worker returns, in order (`apply_ops`), with the versions a local run gives, so
the result equals `celstudio run`. Packages and results travel writer <-> worker through Ray's object
store; the driver only schedules, retries and reports.

Stages are grouped by the resources their backends need (weight-free: CPU anywhere; deep: a GPU when
the cluster has one), one pool of actors per group; a shot goes through the groups in pipeline order.
A worker that dies (its node killed, out of memory) or a shot that raises is retried on another
worker up to ``max_attempts`` times, then reported with its reason while the rest goes on. Running the
same command again computes only what is missing.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import CelstudioError, InputError
from app.pipeline.graph import FRESH, ROLE_OF_STAGE, STAGES, stage_status
from app.store import Project
from app.store.manifest import MANIFEST_NAME

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MiB = 1024 * 1024
MAX_BACKLOG = 8  # computed shots waiting for one project's writer before that project gets no new ones


class RayMissing(CelstudioError):
    """Ray (the ``cluster`` extra) is not installed."""


class BatchError(CelstudioError):
    """A batch cannot start (bad sources, an unreachable cluster)."""


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayMissing(
            "celstudio batch needs Ray: install the cluster extra with `pip install 'celstudio[cluster]'` "
            "(or `pip install ray`)."
        ) from exc
    return ray


# -- sources and projects ---------------------------------------------------------------------------
def discover_sources(sources: list[Path]) -> list[Path]:
    """Episodes in ``sources``: video files, the video files inside folders (sorted by name), and
    image folders (a folder of frames is one episode)."""
    found: list[Path] = []
    for src in sources:
        src = Path(src).expanduser()
        if src.is_file():
            if src.suffix.lower() not in VIDEO_SUFFIXES:
                raise InputError(f"{src} is not a video file ({', '.join(VIDEO_SUFFIXES)}).")
            found.append(src.resolve())
        elif src.is_dir():
            videos = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if videos:
                found.extend(p.resolve() for p in videos)
            elif any(p.suffix.lower() in IMAGE_SUFFIXES for p in src.iterdir()):
                found.append(src.resolve())
            else:
                raise InputError(f"{src} holds no video files and no images.")
        else:
            raise InputError(f"{src} does not exist.")
    if not found:
        raise InputError("No episodes to run: give video files or folders of them.")
    if len(set(found)) != len(found):
        raise InputError("An episode is given twice.")
    return found


def project_folders(sources: list[Path], projects: Path) -> list[Path]:
    """One project folder per episode, named after it (``name``, ``name-2`` ... when names clash)."""
    used: dict[str, int] = {}
    out = []
    for src in sources:
        stem = src.stem if src.is_file() else src.name
        used[stem] = used.get(stem, 0) + 1
        out.append(projects / (stem if used[stem] == 1 else f"{stem}-{used[stem]}"))
    return out


def open_or_import(src: Path, root: Path, progress: Callable[[int, int], None] | None = None) -> tuple[Project, bool]:
    """The episode's project, imported on the first run and re-used after that; True if imported now."""
    if (root / MANIFEST_NAME).exists():
        project = Project.open(root)
        if Path(project.manifest.source.path).resolve() != src:
            project.close()
            raise BatchError(f"{root} is a project of another source ({project.manifest.source.path}); use another --projects folder.")
        return project, False
    from app.ingest.importer import import_source

    return import_source(src, root, progress=progress), True


# -- resources --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """What one worker actor of a stage group declares to Ray."""

    name: str  # "cpu" (weight-free backends) or "gpu" (deep backends)
    num_cpus: float
    num_gpus: float
    memory: int  # bytes

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory:
            opts["memory"] = self.memory
        return opts


def stage_groups(stages: list[str], backends: dict[str, str], *, cpus: float = 1, cluster_gpus: float = 0,
                 cpu_memory: int = 512 * MiB, gpu_memory: int = 4096 * MiB) -> list[tuple[Profile, list[str]]]:
    """Consecutive stages whose backends need the same resources, in pipeline order."""
    cpu = Profile("cpu", cpus, 0, cpu_memory)
    gpu = Profile("gpu", cpus, 1 if cluster_gpus >= 1 else 0, gpu_memory)
    groups: list[tuple[Profile, list[str]]] = []
    for stage in [s for s in STAGES if s in stages]:
        profile = cpu if backends.get(ROLE_OF_STAGE[stage], "classical") == "classical" else gpu
        if groups and groups[-1][0] == profile:
            groups[-1][1].append(stage)
        else:
            groups.append((profile, [stage]))
    return groups


# -- bookkeeping ------------------------------------------------------------------------------------
@dataclass
class Episode:
    name: str
    source: Path
    root: Path
    frame_count: int
    imported: bool
    shot_frames: list[int]
    pending: list[int]  # shots that need work
    skipped: int  # shots already complete
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    frame_failures: list[tuple[str, int, str]] = field(default_factory=list)
    writer: Any = None  # its ProjectWriter actor while the batch runs
    backlog: int = 0  # results computed and waiting for its writer
    export_error: str = ""

    @property
    def finished(self) -> bool:
        return len(self.done) + len(self.failed) >= len(self.pending)


@dataclass
class Item:
    episode: Episode
    shot: int
    group: int = 0
    attempts: int = 0


@dataclass
class Worker:
    pool: str
    handle: Any
    ready_ref: Any
    ready: bool = False
    name: str = ""
    inflight: int = 0


@dataclass
class BatchOptions:
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    backends: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    workers: int | None = None  # worker actors per pool; None: as many as the cluster's CPUs allow
    cpus_per_worker: float = 1
    max_attempts: int = 3
    local_cpus: int | None = None  # CPUs of the embedded local instance (None: Ray's default, all)
    worker_start_timeout_s: float = 300.0  # give up when no worker can be started for this long
    export: tuple[str, Path] | None = None


@dataclass
class BatchSummary:
    episodes: list[dict[str, Any]]
    shots_total: int
    shots_run: int
    shots_skipped: int
    shots_failed: int
    frames: int
    seconds: float
    frames_per_s: float
    retries: int
    workers: list[str]
    address: str
    compute_s: float = 0.0  # worker time spent computing shots (all workers together)
    read_s: float = 0.0  # driver time reading shot packages (frames decoded here)
    apply_s: float = 0.0  # driver time writing results to the projects
    startup_s: float = 0.0  # from the start until the first worker was ready (imports included)
    segment_s: float = 0.0  # stage 1 in the projects' writers (all writers together)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


ProgressFn = Callable[[dict[str, Any]], None]
LogFn = Callable[[str], None]


class BatchRun:
    """One run of `celstudio batch` (see the module docstring)."""

    def __init__(self, sources: list[Path], projects: Path, options: BatchOptions | None = None,
                 progress: ProgressFn | None = None, say: LogFn | None = None) -> None:
        self.sources = discover_sources(sources)
        self.projects = Path(projects).expanduser()
        self.options = options or BatchOptions()
        for stage in self.options.stages:
            if stage not in STAGES:
                raise BatchError(f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}.")
        self.progress = progress or (lambda state: None)
        self.say = say or (lambda line: log.info(line))
        self.episodes: list[Episode] = []
        self.workers: list[Worker] = []
        self.started_workers: dict[str, int] = {}
        self.seen_workers: set[str] = set()
        self.retries = 0
        self._notices: list[str] = []
        self._last_start_error = ""
        self.frames_done = 0
        self.shots_by_node: dict[str, int] = {}  # results applied, by the Ray node that computed them
        # Where the time goes: workers computing, and the projects' writers reading packages and
        # applying results (one process per project: what does not scale with workers).
        self.compute_s = 0.0
        self.segment_s = 0.0  # stage 1, in the projects' writers
        self.read_s = 0.0
        self.apply_s = 0.0
        self.t0 = 0.0
        self.startup_s = 0.0  # until the first worker was ready (connecting, imports, backends loaded)
        self.address = ""

    # -- setup --------------------------------------------------------------------------------------
    def _connect(self, ray: Any) -> None:
        opts = self.options
        if ray.is_initialized():
            self.address = "existing"
            return
        if opts.address:
            try:
                ray.init(address=opts.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BatchError(f"Cannot join the Ray cluster at {opts.address} ({str(exc).splitlines()[0]}).") from exc
            self.address = opts.address
        else:
            ray.init(num_cpus=opts.local_cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
            self.address = "local"

    def _open_episodes(self) -> None:
        self.projects.mkdir(parents=True, exist_ok=True)
        backends = self.options.backends
        for src, root in zip(self.sources, project_folders(self.sources, self.projects), strict=True):
            project, imported = open_or_import(src, root)
            with project:  # closed again: during the run only its writer opens it
                if imported:
                    self.say(f"imported {src.name}: {project.frame_count} frames, {len(project.shots)} shots -> {root}")
                todo = set()
                for stage in self.options.stages:
                    codes = stage_status(project, stage, backends.get(ROLE_OF_STAGE[stage], "classical"))
                    for i, shot in enumerate(project.shots):
                        if (codes[shot.start : shot.end] != FRESH).any():
                            todo.add(i)
                shots = project.shots
                self.episodes.append(Episode(
                    name=root.name, source=src, root=root, frame_count=project.frame_count, imported=imported,
                    shot_frames=[s.end - s.start for s in shots], pending=sorted(todo), skipped=len(shots) - len(todo),
                ))

    def _pool_sizes(self, ray: Any, groups: list[tuple[Profile, list[str]]]) -> dict[str, tuple[Profile, int]]:
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
        pools: dict[str, tuple[Profile, int]] = {}
        for profile, _ in groups:
            if profile.name in pools:
                continue
            if self.options.workers is not None:
                n = self.options.workers
            elif profile.num_gpus:
                n = int(gpus // profile.num_gpus)
            else:
                n = int(cpus // max(profile.num_cpus, 0.01))
            pools[profile.name] = (profile, max(1, n))
        if len(pools) > 1 and self.options.workers is None and "cpu" in pools and "gpu" in pools:
            # GPU workers hold CPUs too; the weight-free pool gets what is left.
            cpu_profile, n = pools["cpu"]
            gpu_profile, g = pools["gpu"]
            pools["cpu"] = (cpu_profile, max(1, n - int(g * gpu_profile.num_cpus)))
        return pools

    def _start_worker(self, ray: Any, profile: Profile, roles: list[str]) -> None:
        from app.batch.worker import ShotWorker

        actor = ray.remote(ShotWorker).options(**profile.options(), max_restarts=0, max_task_retries=0)
        preload = {role: self.options.backends.get(role, "classical") for role in roles}
        handle = actor.remote(int(max(1, profile.num_cpus)), "auto", preload)
        self.workers.append(Worker(profile.name, handle, handle.ready.remote()))
        self.started_workers[profile.name] = self.started_workers.get(profile.name, 0) + 1

    def _start_writer(self, ray: Any, ep: Episode) -> None:
        """The project's one writer, on this (the driver's) node, where its folder is."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from app.batch.writer import ProjectWriter

        here = ray.get_runtime_context().get_node_id()
        actor = ray.remote(ProjectWriter).options(
            num_cpus=0, max_restarts=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        ep.writer = actor.remote(str(ep.root), self.options.backends)

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> BatchSummary:
        ray = require_ray()
        self.t0 = time.monotonic()
        try:
            self._open_episodes()
            # Episodes interleaved, so every project's writer has work from the start (a season's
            # first episode alone would keep one writer busy and the others idle).
            queue: deque[Item] = deque(
                Item(ep, s) for _, _, ep, s in sorted((n, e, ep, s) for e, ep in enumerate(self.episodes)
                                                     for n, s in enumerate(ep.pending))
            )
            if queue:  # nothing missing: no cluster needed
                self._connect(ray)
                resources = ray.cluster_resources()
                later = [s for s in self.options.stages if s != "segment"]
                groups = stage_groups(later, self.options.backends, cpus=self.options.cpus_per_worker,
                                      cluster_gpus=float(resources.get("GPU", 0)))
                for ep in self.episodes:
                    if ep.pending:
                        self._start_writer(ray, ep)
                if "segment" in self.options.stages:
                    self._segment(ray)
                if groups:
                    self._loop(ray, queue, groups, self._pool_sizes(ray, groups))
                else:
                    for item in queue:
                        self._count_done(item.episode, item.shot)
            if self.options.export is not None:
                for ep in self.episodes:
                    if ep.finished and not ep.failed:
                        try:
                            self._export(ray, ep)
                        except Exception as exc:  # one episode's export does not stop the others
                            ep.export_error = _reason(exc)
                            self.say(f"{ep.name}: not exported: {ep.export_error}")
            return self._summary()
        finally:
            for w in self.workers:
                try:
                    ray.kill(w.handle)
                except Exception:
                    log.debug("could not kill worker", exc_info=True)
            self._close_writers(ray)
            if self.address not in ("", "existing"):
                ray.shutdown()

    def _segment(self, ray: Any) -> None:
        """Stage 1 in every project's writer at once, each in shot order (see `ProjectWriter.segment`)."""
        active = [ep for ep in self.episodes if ep.pending]
        self.say(f"stage 1 (segment) in {len(active)} project writer(s), each in shot order")
        refs = {ep.writer.segment.remote(ep.pending): ep for ep in active}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in done:
                ep = refs.pop(ref)
                try:
                    report = ray.get(ref)
                except Exception as exc:  # its shots go on: stage 3 reports the frames without stage 1
                    self.say(f"{ep.name}: stage 1 failed: {_reason(exc)}")
                    continue
                self.segment_s += float(report["seconds"])
                ep.frame_failures.extend(tuple(f) for f in report["failures"])
                for notice in report["notices"]:
                    if notice not in self._notices:
                        self._notices.append(notice)
                        self.say(f"note: {notice}")
            self._report()

    def _count_done(self, ep: Episode, shot: int) -> None:
        ep.done.add(shot)
        self.frames_done += ep.shot_frames[shot]
        if ep.finished:
            self.say(f"{ep.name}: {len(ep.done)} shots done, {len(ep.failed)} failed, {ep.skipped} already complete")

    def _close_writers(self, ray: Any) -> None:
        writers = [ep.writer for ep in self.episodes if ep.writer is not None]
        if not writers:
            return
        try:
            ray.get([w.close.remote() for w in writers], timeout=120)  # flushed and closed before the kill
        except Exception:
            log.warning("a project writer could not close cleanly", exc_info=True)
        for w in writers:
            try:
                ray.kill(w)
            except Exception:
                log.debug("could not kill writer", exc_info=True)
        for ep in self.episodes:
            ep.writer = None

    def _loop(self, ray: Any, queue: deque[Item], groups: list[tuple[Profile, list[str]]],
              pools: dict[str, tuple[Profile, int]]) -> None:
        # compute: the worker's small result ref -> (item, worker, its ops ref); apply: the writer's ref
        computing: dict[Any, tuple[Item, Worker, Any, Any]] = {}
        applying: dict[Any, tuple[Item, Any]] = {}
        last_alive = time.monotonic()
        max_starts = {name: 3 * n + 2 for name, (_, n) in pools.items()}
        roles = {name: [ROLE_OF_STAGE[s] for p, stages in groups if p.name == name for s in stages] for name in pools}
        while queue or computing or applying:
            # Keep each pool at its size, replacing dead workers (a bounded number of times).
            for name, (profile, n) in pools.items():
                alive = sum(1 for w in self.workers if w.pool == name)
                while alive < n and self.started_workers.get(name, 0) < max_starts[name]:
                    self._start_worker(ray, profile, roles[name])
                    alive += 1
            # Feed ready workers: two shots each, so the next package is there when one finishes; a
            # project whose writer is behind gets no new shots until it catches up (memory stays bounded).
            for item in list(queue):
                if item.episode.backlog >= MAX_BACKLOG:
                    continue
                pool = groups[item.group][0].name
                free = [w for w in self.workers if w.pool == pool and w.ready and w.inflight < 2]
                if not free:
                    continue
                worker = min(free, key=lambda w: w.inflight)
                queue.remove(item)
                package = item.episode.writer.read.remote(item.shot)
                result, ops = worker.handle.run.options(num_returns=2).remote(package, groups[item.group][1])
                worker.inflight += 1
                computing[result] = (item, worker, ops, package)
            waiting = {w.ready_ref: w for w in self.workers if not w.ready}
            done, _ = ray.wait([*computing, *applying, *waiting], num_returns=1, timeout=0.5)
            for ref in done:
                if ref in waiting:
                    self._worker_ready(ray, waiting[ref])
                elif ref in computing:
                    item, worker, ops, package = computing.pop(ref)
                    worker.inflight -= 1
                    result = self._computed(ray, ref, item, worker, queue)
                    if result is None:
                        _discard(ray, ops, package)
                    else:
                        applying[item.episode.writer.apply.remote(ops)] = (item, result)
                        item.episode.backlog += 1
                else:
                    item, result = applying.pop(ref)
                    item.episode.backlog -= 1
                    self._applied(ray, ref, item, result, queue, groups)
            exhausted = not self.workers and all(self.started_workers.get(n, 0) >= max_starts[n] for n in pools)
            if any(w.ready for w in self.workers):
                last_alive = time.monotonic()
            elif exhausted or time.monotonic() - last_alive > self.options.worker_start_timeout_s:
                reason = (f"no worker could be started ({self._last_start_error or 'no free resources'})" if exhausted
                          else f"no worker could be started within {self.options.worker_start_timeout_s:.0f} s")
                for ref, (item, result) in applying.items():  # computed already: let them land
                    self._applied(ray, ref, item, result, queue, groups)
                for item in [*queue, *(i for i, _, _, _ in computing.values())]:
                    self._fail(item, reason)
                return
            self._report()

    def _worker_ready(self, ray: Any, worker: Worker) -> None:
        try:
            worker.name = ray.get(worker.ready_ref)
            worker.ready = True
            if not self.startup_s:
                self.startup_s = time.monotonic() - self.t0
            self.seen_workers.add(worker.name)
        except Exception as exc:
            self._last_start_error = _reason(exc)
            self.say(f"a worker could not start: {_reason(exc)}")
            self.workers.remove(worker)

    def _computed(self, ray: Any, ref: Any, item: Item, worker: Worker, queue: deque[Item]) -> Any:
        """The worker's summary of a shot, or None after scheduling a retry."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the shot (or reading its package) raised; the worker is fine
            self._retry(item, queue, _reason(exc))
        except Exception as exc:  # the worker is gone (node killed, out of memory, crashed)
            if worker in self.workers:
                self.workers.remove(worker)
                self.say(f"worker {worker.name or '?'} died ({_reason(exc)}); its shots go to the others")
            self._retry(item, queue, f"worker died: {_reason(exc)}")
        return None

    def _applied(self, ray: Any, ref: Any, item: Item, result: Any, queue: deque[Item],
                 groups: list[tuple[Profile, list[str]]]) -> None:
        ep = item.episode
        try:
            self.apply_s += float(ray.get(ref))
        except ray.exceptions.RayTaskError as exc:  # StaleShot: the project changed under the shot
            self._retry(item, queue, f"its results could not be applied: {_reason(exc)}")
            return
        except Exception as exc:  # the writer process is gone: a new one re-opens the project
            self.say(f"the writer of {ep.name} died ({_reason(exc)}); starting another")
            self._start_writer(ray, ep)
            self._retry(item, queue, f"writer died: {_reason(exc)}")
            return
        self.compute_s += result.seconds
        self.read_s += result.read_seconds
        ep.frame_failures.extend(result.failures)
        self.shots_by_node[result.node] = self.shots_by_node.get(result.node, 0) + 1
        for notice in result.notices:
            if notice not in self._notices:
                self._notices.append(notice)
                self.say(f"note: {notice}")
        if item.group + 1 < len(groups):
            queue.appendleft(Item(ep, item.shot, item.group + 1))  # its next stages, ahead of new shots
            return
        self._count_done(ep, item.shot)

    def _retry(self, item: Item, queue: deque[Item], reason: str) -> None:
        item.attempts += 1
        if item.attempts >= self.options.max_attempts:
            self._fail(item, reason)
            return
        self.retries += 1
        self.say(f"{item.episode.name} shot {item.shot}: attempt {item.attempts} failed ({reason}); retrying")
        queue.append(item)

    def _fail(self, item: Item, reason: str) -> None:
        ep = item.episode
        ep.failed[item.shot] = reason
        self.say(f"{ep.name} shot {item.shot}: failed after {item.attempts} attempts: {reason}")

    def _report(self) -> None:
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        shots_total = sum(len(ep.pending) for ep in self.episodes)
        frames_total = sum(ep.shot_frames[s] for ep in self.episodes for s in ep.pending)
        fps = self.frames_done / elapsed
        self.progress({
            "episodes_done": sum(1 for ep in self.episodes if ep.finished), "episodes": len(self.episodes),
            "shots_done": sum(len(ep.done) + len(ep.failed) for ep in self.episodes), "shots": shots_total,
            "frames_done": self.frames_done, "frames": frames_total, "fps": fps,
            "eta_s": (frames_total - self.frames_done) / fps if fps > 0 else 0.0,
            "workers": sum(1 for w in self.workers if w.ready), "by_node": dict(self.shots_by_node),
        })

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
        elapsed = time.monotonic() - self.t0
        episodes = []
        for ep in self.episodes:
            episodes.append({
                "name": ep.name, "source": str(ep.source), "project": str(ep.root), "imported": ep.imported,
                "frames": ep.frame_count, "shots": len(ep.shot_frames), "shots_run": len(ep.done),
                "shots_skipped": ep.skipped,
                "failed_shots": [{"shot": s, "reason": r} for s, r in sorted(ep.failed.items())],
                "failed_frames": [{"stage": st, "frame": f, "reason": r} for st, f, r in ep.frame_failures],
                "export_error": ep.export_error,
            })
        return BatchSummary(
            episodes=episodes,
            shots_total=sum(len(ep.shot_frames) for ep in self.episodes),
            shots_run=sum(len(ep.done) for ep in self.episodes),
            shots_skipped=sum(ep.skipped for ep in self.episodes),
            shots_failed=sum(len(ep.failed) for ep in self.episodes),
            frames=self.frames_done, seconds=round(elapsed, 3),
            frames_per_s=round(self.frames_done / max(elapsed, 1e-6), 3), retries=self.retries,
            workers=sorted(self.seen_workers), address=self.address, compute_s=round(self.compute_s, 3),
            read_s=round(self.read_s, 3), apply_s=round(self.apply_s, 3), startup_s=round(self.startup_s, 3),
            segment_s=round(self.segment_s, 3),
        )


def _discard(ray: Any, *refs: Any) -> None:
    """Collect the errors of a failed shot's other results (Ray logs errors nobody retrieved)."""
    for ref in refs:
        try:
            ray.get(ref, timeout=5)
        except Exception:
            log.debug("discarded a failed result", exc_info=True)


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # a RayTaskError carries the exception raised remotely
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]
