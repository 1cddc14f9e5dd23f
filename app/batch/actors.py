"""The batch's processes: each project's writer actor and the worker actors (started, kept warm,
ended), and what they report of their CPU use."""

from __future__ import annotations

import logging
from typing import Any

from app.batch.resources import Profile
from app.batch.state import BatchOptions, Episode, Timings, Worker, WorkerPool

log = logging.getLogger(__name__)


class Actors:
    """The part of the scheduler that starts and ends processes (`app.batch.schedule.Scheduler`)."""

    ray: Any
    episodes: list[Episode]
    options: BatchOptions
    workers: list[Worker]
    started: dict[str, int]
    roles: dict[str, dict[str, str]]
    warm: WorkerPool | None
    cpu_base: dict[str, float]
    timings: Timings

    def _kind(self, profile: Profile) -> tuple[Any, ...]:
        return (profile, tuple(sorted(self.roles.get(profile.name, {}).items())))

    # -- processes ----------------------------------------------------------------------------------
    def start_writer(self, ep: Episode) -> None:
        """The project's one writer, on this (the driver's) node, where its folder is."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from app.batch.writer import ProjectWriter

        here = self.ray.get_runtime_context().get_node_id()
        actor = self.ray.remote(ProjectWriter).options(
            num_cpus=0, max_restarts=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        ep.writer = actor.remote(str(ep.root), self.options.backends)

    def _start_worker(self, profile: Profile) -> None:
        from app.batch.worker import ShotWorker

        actor = self.ray.remote(ShotWorker).options(**profile.options(), max_restarts=0, max_task_retries=0)
        handle = actor.remote(int(max(1, profile.num_cpus)), "auto", self.roles.get(profile.name, {}))
        self.workers.append(Worker(profile.name, handle, handle.ready.remote(), kind=self._kind(profile)))
        self.started[profile.name] = self.started.get(profile.name, 0) + 1

    def measure_cpu(self) -> None:
        """The CPU seconds the workers used during the batch and the writers over their lives (a
        process that died meanwhile is missing from the sum)."""
        live = [w for w in self.workers if w.ready]
        for w, cpu in zip(live, gather(self.ray, [w.handle.cpu.remote() for w in live]), strict=True):
            if cpu is not None:
                self.timings.workers_cpu_s += cpu - self.cpu_base.get(w.name, 0.0)
        writers = [ep.writer for ep in self.episodes if ep.writer is not None]
        self.timings.writers_cpu_s += sum(c for c in gather(self.ray, [w.cpu.remote() for w in writers]) if c is not None)

    def stop_workers(self, keep: bool = False) -> None:
        """End the workers, or (``keep``) hand the live ones back to the warm pool for the next batch."""
        if keep and self.warm is not None:
            self.warm.give([w for w in self.workers if w.ready])
            self.workers = [w for w in self.workers if not w.ready]
        for w in self.workers:
            try:
                self.ray.kill(w.handle)
            except Exception:
                log.debug("could not kill worker", exc_info=True)

    def close_writers(self) -> None:
        writers = [ep.writer for ep in self.episodes if ep.writer is not None]
        if not writers:
            return
        try:
            self.ray.get([w.close.remote() for w in writers], timeout=120)  # flushed and closed before the kill
        except Exception:
            log.warning("a project writer could not close cleanly", exc_info=True)
        for w in writers:
            try:
                self.ray.kill(w)
            except Exception:
                log.debug("could not kill writer", exc_info=True)
        for ep in self.episodes:
            ep.writer = None


def gather(ray: Any, refs: list[Any]) -> list[Any]:
    """Each ref's value, or None where its process is gone."""
    out = []
    for ref in refs:
        try:
            out.append(ray.get(ref, timeout=30))
        except Exception:
            out.append(None)
    return out


def discard(ray: Any, *refs: Any) -> None:
    """Collect the errors of a failed shot's other results (Ray logs errors nobody retrieved)."""
    for ref in refs:
        try:
            ray.get(ref, timeout=5)
        except Exception:
            log.debug("discarded a failed result", exc_info=True)


def reason_of(exc: BaseException) -> str:
    """The one line that says why (a RayTaskError carries the exception raised remotely)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]
