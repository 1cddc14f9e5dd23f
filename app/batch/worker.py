"""The worker side of a batch: run the unchanged stage functions on one shot and return the writes.

`compute_shot` is plain Python (the tests call it without Ray too); `ShotWorker` is the Ray actor that
holds the loaded backends, so model weights load once per worker process, not once per shot.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from app.batch.segment import SegmentCapture, capture_segments
from app.batch.workspace import Op, ShotPackage, ShotWorkspace
from app.pipeline.frames import ShotFrames
from app.pipeline.graph import ROLE_OF_STAGE, STAGES, frames_to_compute, record_name
from app.pipeline.runner import PipelineSettings
from app.pipeline.stages import STAGE_FUNCTIONS
from app.store import Project


@dataclass
class ShotResult:
    """What a worker sends back for one shot: its writes, in order, and what it did."""

    project: str
    shot_index: int
    stages: list[str]
    ops: list[Op]
    computed: dict[str, int]  # frames computed per stage
    failures: list[tuple[str, int, str]]  # (stage, frame, reason) recorded as failed frames
    seconds: float
    worker: str
    notices: list[str] = field(default_factory=list)
    node: str = ""  # the Ray node id of the worker (empty outside Ray)
    read_seconds: float = 0.0  # the writer's time packing the shot


class BackendCache:
    """Backends loaded in this process, by role and requested name (weights load once per process)."""

    def __init__(self, device: str = "auto", threads: int = 1) -> None:
        self.device = device
        self.threads = max(1, threads)
        self._loaded: dict[tuple[str, str], Any] = {}
        self._fallback: dict[tuple[str, str], str] = {}  # (role, requested) -> why classical is used

    def _device(self, role: str, name: str) -> str:
        from models.device import choose_device  # the one place a device is chosen
        from models.registry import weight_free

        free = weight_free(role, name)
        if not free:  # no torch import for a weight-free backend
            import torch

            torch.set_num_threads(self.threads)  # the CPUs this worker declared, not the whole node
        return choose_device(self.device, weight_free=free)

    def get(self, role: str, name: str) -> tuple[Any, str | None]:
        """The backend for ``role``, and a notice when ``name`` fell back on the classical one."""
        key = (role, name)
        if key not in self._loaded:
            from models.registry import create_with_fallback

            backend, message = create_with_fallback(role, name, device=self._device(role, name))  # type: ignore[arg-type]
            self._loaded[key] = backend
            if message:
                self._fallback[key] = message
        return self._loaded[key], self._fallback.get(key)

    def release(self) -> None:
        for backend in self._loaded.values():
            backend.release()
        self._loaded.clear()


class CollectingContext:
    """A `app.pipeline.stages.StageContext` whose writes go to a `ShotWorkspace` (and its op list),
    with the same meta and records as the runner's own context, so the project ends up the same."""

    def __init__(self, workspace: ShotWorkspace, cache: BackendCache, settings: PipelineSettings) -> None:
        # The stages only use the part of Project that ShotWorkspace provides.
        self.project = cast(Project, workspace)
        self.workspace = workspace
        self.cache = cache
        self.settings = settings
        self.computed: Counter[str] = Counter()
        self.failures: list[tuple[str, int, str]] = []
        self.notices: list[str] = []

    def backend(self, role: str) -> Any:
        backend, notice = self.cache.get(role, self.settings.backend_name(role))
        if notice:
            self.settings.backends[role] = "classical"  # as the runner does: records name the backend used
            if notice not in self.notices:
                self.notices.append(notice)
        return backend

    def backend_name(self, role: str) -> str:
        self.backend(role)
        return self.settings.backend_name(role)

    def frames(self, indices: list[int], load: Callable[[int], np.ndarray] | None = None) -> ShotFrames:
        return ShotFrames(self.project, indices, load=load)

    def option(self, name: str) -> Any:
        return getattr(self.settings, name)

    def workers(self, role: str) -> int:
        from models.registry import weight_free

        return self.settings.workers if weight_free(role, self.backend_name(role)) else 1

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        self.workspace.layers.write(layer, frame, array, {"source": "pipeline", **(meta or {})})

    def done(self, stage: str, frame: int, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self.workspace.layers.write_record(record_name(stage), frame, {"status": "ok", "inputs": inputs, **(extra or {})})

    def failed(self, stage: str, frame: int, inputs: dict[str, Any], reason: str) -> None:
        self.workspace.layers.write_record(record_name(stage), frame, {"status": "failed", "inputs": inputs, "error": reason})
        self.failures.append((stage, frame, reason))

    def drain(self) -> None:
        """Writes land in the workspace at once."""

    def checkpoint(self, stage: str, frame: int, count: int = 1) -> None:
        self.computed[stage] += count

    def poll(self) -> None:
        """A batch worker's shot is cancelled by its driver, not from inside the stage."""


def compute_shot(package: ShotPackage, stages: list[str], cache: BackendCache, *, workers: int = 1, worker: str = "") -> ShotResult:
    """Run ``stages`` (in pipeline order) on the frames of the shot that need them, as `celstudio run` would.

    The segment stage is not among them: it registers the shot's tracks as project objects, matched
    against the shots before it, so a worker only computes its segmenter's part (`capture_segments`)
    and the project's writer registers it, in shot order (`ProjectWriter.register`)."""
    if "segment" in stages:
        raise ValueError("the segment stage is split between a worker and the project's writer (app.batch.segment)")
    started = time.perf_counter()
    workspace = ShotWorkspace(package)
    settings = PipelineSettings(backends=dict(package.backends), workers=max(1, workers), **package.options)
    ctx = CollectingContext(workspace, cache, settings)
    shot = package.shot
    span = list(range(shot.start, shot.end))
    for stage in [s for s in STAGES if s in stages]:
        # The runner's choice of frames (`PipelineRunner._targets`), read after the stage before landed.
        backend = settings.backend_name(ROLE_OF_STAGE[stage])
        targets = frames_to_compute(ctx.project, stage, span, backend)
        if targets:
            STAGE_FUNCTIONS[stage](ctx, shot, targets)
    return ShotResult(
        project=package.project, shot_index=package.shot_index, stages=list(stages), ops=workspace.ops,
        computed=dict(ctx.computed), failures=ctx.failures, seconds=time.perf_counter() - started,
        worker=worker or f"{socket.gethostname()}:{os.getpid()}", notices=ctx.notices,
        read_seconds=package.read_seconds,
    )


class ShotWorker:
    """A Ray actor (`ray.remote(ShotWorker)`): one per worker process, holding its loaded backends."""

    def __init__(self, cpus: int = 1, device: str = "auto", preload: dict[str, str] | None = None) -> None:
        """``preload``: role -> backend name to load now, so the first shot does not wait for weights."""
        self.cpus = max(1, int(cpus))
        self.cache = BackendCache(device, self.cpus)
        for role, name in (preload or {}).items():
            self.cache.get(role, name)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.node = ""
        try:
            import ray

            if ray.is_initialized():  # asking outside Ray would start a local instance
                self.node = str(ray.get_runtime_context().get_node_id())
        except ImportError:  # a direct call without the cluster extra
            pass

    def ready(self) -> str:
        return self.name

    def cpu(self) -> float:
        """CPU seconds this process has used (all its threads, Ray's own included)."""
        return time.process_time()

    def segment(self, package: ShotPackage) -> tuple[dict[str, Any], SegmentCapture]:
        """The segmenter's result for the shot, and a small summary for the driver (``num_returns=2``)."""
        capture = capture_segments(package, self.cache, workers=self.cpus)
        summary = {"seconds": capture.seconds, "needed": capture.needed, "notices": list(capture.notices),
                   "node": self.node, "read_seconds": package.read_seconds}
        return summary, capture

    def run(self, package: ShotPackage, stages: list[str], frames: ShotPackage | None = None) -> tuple[ShotResult, list[Op]]:
        """The shot's summary and its writes, as two results: the driver reads the small one, the
        project's writer the other (call with ``.options(num_returns=2)``). ``frames``: an earlier
        package of the shot whose decoded frames this one was sent without."""
        if frames is not None and not package.frames:
            package.frames = frames.frames
        result = compute_shot(package, stages, self.cache, workers=self.cpus, worker=self.name)
        result.node = self.node
        ops, result.ops = result.ops, []
        return result, ops
