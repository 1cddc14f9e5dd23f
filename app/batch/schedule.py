"""The batch's scheduling loop: worker pools, each project's writer, and every shot's steps in flight.

A shot's steps (see `app.batch.driver`): segment on a worker, registration in the project's writer in
shot order, then each later stage group on a worker with its writes applied by the writer. Later steps
of shots already started go ahead of new shots, so a shot's decoded frames (held in Ray's object store
from its segment step to its last group) are released early and memory stays bounded.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from app.batch.actors import Actors, discard, gather, reason_of
from app.batch.resources import Profile
from app.batch.state import SEGMENT, BatchOptions, Episode, Item, Timings, Worker, WorkerPool
from app.pipeline.graph import ROLE_OF_STAGE

log = logging.getLogger(__name__)

MAX_BACKLOG = 8  # shots waiting for one project's writer before that project gets no new ones


class Scheduler(Actors):
    def __init__(self, ray: Any, episodes: list[Episode], options: BatchOptions, groups: list[tuple[Profile, list[str]]],
                 segment: Profile | None, pools: dict[str, tuple[Profile, int]], say: Callable[[str], None],
                 report: Callable[[], None], warm: WorkerPool | None = None) -> None:
        self.ray, self.episodes, self.options, self.groups = ray, episodes, options, groups
        self.segment, self.pools, self.say, self.report = segment, pools, say, report
        self.workers: list[Worker] = []
        self.started: dict[str, int] = {}
        self.seen_workers: set[str] = set()
        self.retries = 0
        self.frames_done = 0
        self.shots_by_node: dict[str, int] = {}  # steps computed, by the Ray node that computed them
        self.timings = Timings()
        self.first_ready = 0.0
        self.notices: list[str] = []
        self.last_start_error = ""
        self.giving_up = False
        self.cpu_base: dict[str, float] = {}
        self.queue: deque[Item] = deque()
        # In flight: a worker's small result ref -> (item, worker, its big result ref, the package ref);
        # a writer's registration or apply ref -> the item (and the worker's summary).
        self.computing: dict[Any, tuple[Item, Worker, Any, Any]] = {}
        self.registering: dict[Any, Item] = {}
        self.applying: dict[Any, tuple[Item, Any]] = {}
        self.roles: dict[str, dict[str, str]] = {}  # pool -> the backends its workers load when they start
        for profile, stages in ([(segment, ["segment"])] if segment else []) + groups:
            for stage in stages:
                role = ROLE_OF_STAGE[stage]
                self.roles.setdefault(profile.name, {})[role] = options.backends.get(role, "classical")
        for ep in episodes:
            if ep.pending:
                self.start_writer(ep)
        self.warm = warm
        if warm is not None:
            for profile, n in pools.values():
                self.workers.extend(warm.take(self._kind(profile), n))
            for w in self.workers:
                self.seen_workers.add(w.name)
                self.first_ready = self.first_ready or time.monotonic()
            # A warm worker's CPU counts from now; a new one's from its start (its start-up is the batch's).
            for w, cpu in zip(self.workers, gather(ray, [w.handle.cpu.remote() for w in self.workers]), strict=True):
                self.cpu_base[w.name] = cpu or 0.0

    # -- the loop -----------------------------------------------------------------------------------
    def _pool(self, item: Item) -> str:
        if item.group == SEGMENT:
            assert self.segment is not None
            return self.segment.name
        return self.groups[item.group][0].name

    def run(self, queue: deque[Item]) -> None:
        self.queue = queue
        last_alive = time.monotonic()
        max_starts = {name: 3 * n + 2 for name, (_, n) in self.pools.items()}
        while self.queue or self.computing or self.registering or self.applying:
            # Keep each pool at its size, replacing dead workers (a bounded number of times).
            for name, (profile, n) in self.pools.items():
                alive = sum(1 for w in self.workers if w.pool == name)
                while alive < n and self.started.get(name, 0) < max_starts[name]:
                    self._start_worker(profile)
                    alive += 1
            self._dispatch()
            waiting = {w.ready_ref: w for w in self.workers if not w.ready}
            done, _ = self.ray.wait([*self.computing, *self.registering, *self.applying, *waiting], num_returns=1, timeout=0.5)
            for ref in done:
                if ref in waiting:
                    self._worker_ready(waiting[ref])
                elif ref in self.computing:
                    self._computed(ref, *self.computing.pop(ref))
                elif ref in self.registering:
                    self._registered(ref, self.registering.pop(ref))
                else:
                    self._applied(ref, *self.applying.pop(ref))
            exhausted = not self.workers and all(self.started.get(n, 0) >= max_starts[n] for n in self.pools)
            if any(w.ready for w in self.workers):
                last_alive = time.monotonic()
            elif exhausted or time.monotonic() - last_alive > self.options.worker_start_timeout_s:
                self._give_up(exhausted)
                return
            self.report()

    def _dispatch(self) -> None:
        """Feed ready workers two steps each, so the next package is there when one finishes; a project
        whose writer is behind gets no new shots until it catches up (memory stays bounded)."""
        for item in list(self.queue):
            ep = item.episode
            if item.group == SEGMENT and ep.backlog + len(ep.segmented) >= MAX_BACKLOG:
                continue
            free = [w for w in self.workers if w.pool == self._pool(item) and w.ready and w.inflight < 2]
            if not free:
                continue
            worker = min(free, key=lambda w: w.inflight)
            self.queue.remove(item)
            if item.group == SEGMENT:
                package = ep.writer.read.remote(item.shot)
                small, big = worker.handle.segment.options(num_returns=2).remote(package)
                item.frames = package  # its later groups re-use these decoded frames
            else:
                stages = self.groups[item.group][1]
                package = ep.writer.read.remote(item.shot, item.frames is None)
                small, big = worker.handle.run.options(num_returns=2).remote(package, stages, item.frames)
            worker.inflight += 1
            self.computing[small] = (item, worker, big, package)

    def _worker_ready(self, worker: Worker) -> None:
        try:
            worker.name = self.ray.get(worker.ready_ref)
            worker.ready = True
            self.first_ready = self.first_ready or time.monotonic()
            self.seen_workers.add(worker.name)
        except Exception as exc:
            self.last_start_error = reason_of(exc)
            self.say(f"a worker could not start: {reason_of(exc)}")
            self.workers.remove(worker)

    def _computed(self, ref: Any, item: Item, worker: Worker, big: Any, package: Any) -> None:
        worker.inflight -= 1
        ray = self.ray
        try:
            summary = ray.get(ref)
        except Exception as exc:
            if isinstance(exc, ray.exceptions.RayTaskError):  # the shot (or reading its package) raised
                reason = reason_of(exc)
            else:  # the worker is gone (node killed, out of memory, crashed)
                reason = f"worker died: {reason_of(exc)}"
                if worker in self.workers:
                    self.workers.remove(worker)
                    self.say(f"worker {worker.name or '?'} died ({reason_of(exc)}); its shots go to the others")
            discard(ray, big, package)
            self._retry(item, reason)
            return
        ep = item.episode
        if item.group != SEGMENT:
            self.applying[ep.writer.apply.remote(big)] = (item, summary)
            ep.backlog += 1
            return
        self.timings.segment_s += summary["seconds"]
        self.timings.compute_s += summary["seconds"]
        self.timings.read_s += summary["read_seconds"]
        self._node(summary["node"])
        self._notice(summary["notices"])
        ep.segmented[item.shot] = (item, big if summary["needed"] else None)
        self._register_next(ep)

    def _register_next(self, ep: Episode) -> None:
        """Hand the writer the next shot to register, strictly in shot order (one at a time, so a
        shot retried after a failed registration still goes before the shots after it)."""
        while not ep.registering and not self.giving_up and ep.next_register < len(ep.segment):
            shot = ep.segment[ep.next_register]
            if shot in ep.failed:
                ep.next_register += 1
                continue
            if shot not in ep.segmented:
                return
            item, capture = ep.segmented.pop(shot)
            if capture is None:  # nothing to register: straight on to the later groups
                ep.next_register += 1
                self._later(item)
                continue
            self.registering[ep.writer.register.remote(shot, capture)] = item
            ep.registering = True
            ep.backlog += 1

    def _registered(self, ref: Any, item: Item) -> None:
        ep = item.episode
        ep.registering = False
        ep.backlog -= 1
        try:
            report = self.ray.get(ref)
        except Exception as exc:
            self._writer_failed(item, exc, "it could not be registered")
        else:
            self.timings.register_s += float(report["seconds"])
            ep.frame_failures.extend(tuple(f) for f in report["failures"])
            self._notice(report["notices"])
            ep.next_register += 1
            self._later(item)
        self._register_next(ep)

    def _later(self, item: Item) -> None:
        """On to the shot's later stage groups, ahead of new shots."""
        if self.groups:
            item.group = 0
            self.queue.appendleft(item)
        else:
            self._done(item)

    def _applied(self, ref: Any, item: Item, result: Any) -> None:
        ep = item.episode
        ep.backlog -= 1
        try:
            self.timings.apply_s += float(self.ray.get(ref))
        except Exception as exc:
            self._writer_failed(item, exc, "its results could not be applied")
            return
        self.timings.compute_s += result.seconds
        self.timings.read_s += result.read_seconds
        ep.frame_failures.extend(result.failures)
        self._node(result.node)
        self._notice(result.notices)
        if item.group + 1 < len(self.groups):
            item.group += 1
            self.queue.appendleft(item)  # its next stages, ahead of new shots
        else:
            self._done(item)

    def _writer_failed(self, item: Item, exc: Exception, what: str) -> None:
        if isinstance(exc, self.ray.exceptions.RayTaskError):  # e.g. StaleShot: the project changed under the shot
            self._retry(item, f"{what}: {reason_of(exc)}")
            return
        # The writer process is gone: a new one re-opens the project.
        self.say(f"the writer of {item.episode.name} died ({reason_of(exc)}); starting another")
        self.start_writer(item.episode)
        self._retry(item, f"writer died: {reason_of(exc)}")

    def _done(self, item: Item) -> None:
        ep = item.episode
        item.frames = None
        ep.done.add(item.shot)
        self.frames_done += ep.shot_frames[item.shot]
        if ep.finished:
            self.say(f"{ep.name}: {len(ep.done)} shots done, {len(ep.failed)} failed, {ep.skipped} already complete")

    def _retry(self, item: Item, reason: str) -> None:
        item.attempts += 1
        item.frames = None  # decoded again: the package may have been lost with its node
        # A failed registration keeps the item at its segment step: it is segmented again, and the
        # shots after it wait (registration goes in shot order).
        if item.attempts >= self.options.max_attempts:
            self._fail(item, reason)
            return
        self.retries += 1
        self.say(f"{item.episode.name} shot {item.shot + 1}: attempt {item.attempts} failed ({reason}); retrying")
        self.queue.append(item)

    def _fail(self, item: Item, reason: str) -> None:
        ep = item.episode
        item.frames = None
        ep.failed[item.shot] = reason
        self.say(f"{ep.name} shot {item.shot + 1}: failed after {item.attempts} attempts: {reason}")
        self._register_next(ep)  # the shots after it go on

    def _give_up(self, exhausted: bool) -> None:
        reason = (f"no worker could be started ({self.last_start_error or 'no free resources'})" if exhausted
                  else f"no worker could be started within {self.options.worker_start_timeout_s:.0f} s")
        self.giving_up = True
        for ref, (item, result) in list(self.applying.items()):  # computed already: let them land
            self._applied(ref, item, result)
        for ref, item in list(self.registering.items()):
            self._registered(ref, item)
        self.applying.clear()
        self.registering.clear()
        stuck = [*self.queue, *(i for i, _, _, _ in self.computing.values()),
                 *(i for ep in self.episodes for i, _ in ep.segmented.values())]
        self.queue.clear()
        for item in stuck:
            if item.shot not in item.episode.done and item.shot not in item.episode.failed:
                item.attempts = max(item.attempts, 1)
                item.episode.failed[item.shot] = reason
                self.say(f"{item.episode.name} shot {item.shot + 1}: failed: {reason}")

    def _node(self, node: str) -> None:
        self.shots_by_node[node] = self.shots_by_node.get(node, 0) + 1

    def _notice(self, notices: list[str]) -> None:
        for notice in notices:
            if notice not in self.notices:
                self.notices.append(notice)
                self.say(f"note: {notice}")
