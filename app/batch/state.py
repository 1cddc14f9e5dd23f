"""A batch's bookkeeping: its options, each episode's shots and where they are, and the summary."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.pipeline.graph import STAGES

SEGMENT = -1  # `Item.group` of a shot's segment step (the later stage groups count from 0)


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
    segment: list[int] = field(default_factory=list)  # pending shots whose segment step must run, in order
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    frame_failures: list[tuple[str, int, str]] = field(default_factory=list)
    writer: Any = None  # its ProjectWriter actor while the batch runs
    backlog: int = 0  # results computed and waiting for its writer
    export_error: str = ""
    # Registration in shot order: shots segmented and waiting for their turn, and whose turn it is.
    segmented: dict[int, tuple[Item, Any]] = field(default_factory=dict)  # shot -> (item, its segments ref)
    next_register: int = 0  # index into ``segment``
    registering: bool = False

    @property
    def finished(self) -> bool:
        return len(self.done) + len(self.failed) >= len(self.pending)


@dataclass
class Item:
    """One shot on its way through the steps: segment (on a worker), registration (in the project's
    writer, in shot order), then each later stage group (on a worker, applied by the writer)."""

    episode: Episode
    shot: int
    group: int = 0
    attempts: int = 0
    frames: Any = None  # the ref of a package already holding the shot's decoded frames (re-used, not decoded again)


@dataclass
class Worker:
    pool: str
    handle: Any
    ready_ref: Any
    ready: bool = False
    name: str = ""
    inflight: int = 0
    kind: tuple[Any, ...] = ()  # what it was started as (resources, backends loaded): a warm one is re-used for the same


class WorkerPool:
    """Worker actors kept between the batches one process runs on the same Ray instance (the app, a
    notebook, a benchmark): the next batch starts with them warm - processes started, imports done,
    backends loaded - instead of paying that start-up again. `close` ends them."""

    def __init__(self) -> None:
        self.idle: list[Worker] = []

    def take(self, kind: tuple[Any, ...], count: int) -> list[Worker]:
        taken = [w for w in self.idle if w.kind == kind][:count]
        for w in taken:
            self.idle.remove(w)
            w.inflight = 0
        return taken

    def give(self, workers: list[Worker]) -> None:
        self.idle.extend(w for w in workers if w.ready)

    def close(self, ray: Any) -> None:
        for w in self.idle:
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(w.handle)
        self.idle.clear()


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
    compute_s: float = 0.0  # worker time spent computing shots (all workers together, segment included)
    read_s: float = 0.0  # writers' time reading shot packages (frames decoded there)
    apply_s: float = 0.0  # writers' time writing workers' results to the projects
    startup_s: float = 0.0  # from the start until the first worker was ready (imports included)
    segment_s: float = 0.0  # of compute_s: the segment step on workers
    register_s: float = 0.0  # writers' time registering segmented shots as project objects, in shot order
    # CPU seconds used by the batch's processes (a measure of its cost that the machine's load does not
    # inflate as it does wall time): the workers during the batch, the writers over their lives, the driver.
    workers_cpu_s: float = 0.0
    writers_cpu_s: float = 0.0
    driver_cpu_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Timings:
    """Where a batch's time goes, summed over workers and writers."""

    compute_s: float = 0.0
    segment_s: float = 0.0
    read_s: float = 0.0
    apply_s: float = 0.0
    register_s: float = 0.0
    startup_s: float = 0.0
    workers_cpu_s: float = 0.0
    writers_cpu_s: float = 0.0
    driver_cpu_s: float = 0.0


def episode_summary(ep: Episode) -> dict[str, Any]:
    return {
        "name": ep.name, "source": str(ep.source), "project": str(ep.root), "imported": ep.imported,
        "frames": ep.frame_count, "shots": len(ep.shot_frames), "shots_run": len(ep.done),
        "shots_skipped": ep.skipped,
        "failed_shots": [{"shot": s, "reason": r} for s, r in sorted(ep.failed.items())],
        "failed_frames": [{"stage": st, "frame": f, "reason": r} for st, f, r in ep.frame_failures],
        "export_error": ep.export_error,
    }


def summarise(episodes: list[Episode], *, frames: int, seconds: float, retries: int, workers: list[str],
              address: str, timings: Timings) -> BatchSummary:
    return BatchSummary(
        episodes=[episode_summary(ep) for ep in episodes],
        shots_total=sum(len(ep.shot_frames) for ep in episodes),
        shots_run=sum(len(ep.done) for ep in episodes),
        shots_skipped=sum(ep.skipped for ep in episodes),
        shots_failed=sum(len(ep.failed) for ep in episodes),
        frames=frames, seconds=round(seconds, 3), frames_per_s=round(frames / max(seconds, 1e-6), 3),
        retries=retries, workers=workers, address=address,
        **{name: round(value, 3) for name, value in timings.__dict__.items()},
    )


def progress_state(episodes: list[Episode], frames_done: int, elapsed: float, workers: int,
                   by_node: dict[str, int]) -> dict[str, Any]:
    """What the progress bar shows: episodes, shots, frames/s, ETA, live workers."""
    shots_total = sum(len(ep.pending) for ep in episodes)
    frames_total = sum(ep.shot_frames[s] for ep in episodes for s in ep.pending)
    fps = frames_done / max(elapsed, 1e-6)
    return {
        "episodes_done": sum(1 for ep in episodes if ep.finished), "episodes": len(episodes),
        "shots_done": sum(len(ep.done) + len(ep.failed) for ep in episodes), "shots": shots_total,
        "frames_done": frames_done, "frames": frames_total, "fps": fps,
        "eta_s": (frames_total - frames_done) / fps if fps > 0 else 0.0,
        "workers": workers, "by_node": dict(by_node),
    }
