"""One shot of a project as plain data: what a batch worker computes from, and what it returns.

The project's single writer (`app.batch.writer`) packs a shot into a `ShotPackage`: its frames, the
versions, meta and records of every layer on its frames, and the arrays the stages read. A worker
opens it as a `ShotWorkspace`, an in-memory stand-in for `app.store.Project` that the unchanged stage
functions run against. Every write lands in the workspace at once (the next stage reads it, with the
version the real store would give it) and in an ordered list of `Op`; the writer replays that list on
the real project and checks that each write got the version the worker saw. Nothing here opens a file.

Shots are independent units: no stage reads another shot's frames (segment models its own shot,
propagate works between keyframes inside the shot), so a shot computed here equals the same shot
computed by `celstudio run`, version for version and byte for byte.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from app.pipeline.graph import SHOT_RECORDS, STAGE_INPUTS, STAGES, record_name
from app.store import ObjectInfo, Project, Shot
from app.store.layers import LAYERS, label_counts, to_uint8
from app.store.manifest import TrackLink
from app.store.objects import ObjectStore

# Array layers a stage reads through the store; the others travel as versions and meta only.
READ_LAYERS: tuple[str, ...] = tuple(sorted({"segmentation", *(x for s in STAGE_INPUTS.values() for x in s)}))
RECORDS: tuple[str, ...] = (*(record_name(s) for s in STAGES), "annotations", *SHOT_RECORDS)


def stored_json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as the project index gives it back (`app.store.index` stores sorted JSON)."""
    return dict(json.loads(json.dumps(value, sort_keys=True, default=str)))


@dataclass
class Op:
    """One write, in the order the stage made it: ``kind`` is ``layer``, ``record`` or ``vector``."""

    kind: str
    name: str
    frame: int
    array: np.ndarray | None = None
    body: dict[str, Any] | None = None
    version: int = 0  # for ``layer``: the version the write made in the workspace


@dataclass
class ShotPackage:
    """Everything a worker needs to compute one shot, read from the project by its writer."""

    project: str  # the project's folder, for logs and the writer's bookkeeping
    shot_index: int
    shot: Shot
    shots: list[Shot]
    frame_count: int
    width: int
    height: int
    objects: list[ObjectInfo]
    backends: dict[str, str]
    frames: dict[int, np.ndarray]
    versions: dict[str, dict[int, int]]
    metas: dict[str, dict[int, dict[str, Any]]]
    arrays: dict[str, dict[int, np.ndarray]]
    records: dict[str, dict[int, dict[str, Any]]]
    keys: list[int] = field(default_factory=list)  # each frame's drawing (its first frame; holds share it)
    tracks: list[TrackLink] = field(default_factory=list)  # the project's track -> object links
    options: dict[str, Any] = field(default_factory=dict)
    read_seconds: float = 0.0  # how long the writer took to pack it

    @property
    def frame_total(self) -> int:
        return self.shot.end - self.shot.start

    @classmethod
    def read(cls, project: Project, shot_index: int, backends: dict[str, str], options: dict[str, Any] | None = None,
             *, frames: bool = True) -> ShotPackage:
        """``frames=False``: without the decoded frames (the worker gets them from an earlier package)."""
        started = time.perf_counter()
        shot = project.shots[shot_index]
        keys = [int(k) for k in project.drawing_keys[shot.start : shot.end]]
        span = sorted(set(keys))  # a held frame's layers and records are its drawing's
        layers = project.layers
        versions = {layer: {f: layers.version(layer, f) for f in span} for layer in LAYERS}
        metas = {layer: {f: layers.meta(layer, f) for f in span if versions[layer][f]} for layer in LAYERS}
        arrays: dict[str, dict[int, np.ndarray]] = {}
        for layer in READ_LAYERS:
            arrays[layer] = {}
            for f in span:
                if versions[layer][f]:
                    data = layers.read(layer, f)
                    assert data is not None
                    arrays[layer][f] = data
        records = {name: {f: r for f in span if (r := layers.read_record(name, f)) is not None} for name in RECORDS}
        m = project.manifest
        package = cls(
            project=str(project.root), shot_index=shot_index, shot=shot, shots=list(project.shots),
            frame_count=m.frame_count, width=m.width, height=m.height, objects=list(m.objects),
            backends=dict(backends), frames={f: project.frame(f) for f in range(shot.start, shot.end)} if frames else {},
            versions=versions, metas=metas, arrays=arrays, records=records, keys=keys,
            tracks=list(m.tracks), options=dict(options or {}),
        )
        package.read_seconds = time.perf_counter() - started
        return package


@dataclass
class _Manifest:
    objects: list[ObjectInfo]
    tracks: list[TrackLink]


class WorkspaceLayers:
    """The subset of `app.store.layers.LayerStore` that stages use, over one shot's data."""

    def __init__(self, package: ShotPackage, ops: list[Op]) -> None:
        self._p = package
        self._ops = ops
        self.frame_count = package.frame_count
        self.width, self.height = package.width, package.height

    def _check(self, frame: int) -> int:
        """The frame's drawing (as `app.store.drawings.DrawingLayers` maps it), checked to be in the shot."""
        if frame not in self._p.shot:
            raise IndexError(f"frame {frame} is outside the shot {self._p.shot.start}..{self._p.shot.end - 1} sent to this worker")
        return self._p.keys[frame - self._p.shot.start] if self._p.keys else frame

    def _expand(self, by_key: dict[int, Any]) -> dict[int, Any]:
        shot = self._p.shot
        return {f: by_key[k] for f in range(shot.start, shot.end) if (k := self._check(f)) in by_key}

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> int:
        frame = self._check(frame)
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}")
        data = to_uint8(np.asarray(array))
        spec = LAYERS[layer]
        shape = (self.height, self.width, spec.channels) if spec.channels else (self.height, self.width)
        if data.shape != shape:
            raise ValueError(f"{layer} frame must have shape {shape}, got {data.shape}")
        data = np.ascontiguousarray(data)
        version = self._p.versions[layer].get(frame, 0) + 1
        self._p.versions[layer][frame] = version
        self._p.metas[layer][frame] = stored_json(meta or {})
        self._p.arrays.setdefault(layer, {})[frame] = data
        self._ops.append(Op("layer", layer, frame, data, dict(meta or {}), version))
        return version

    def read(self, layer: str, frame: int) -> np.ndarray | None:
        frame = self._check(frame)
        if self.version(layer, frame) == 0:
            return None
        data = self._p.arrays.get(layer, {}).get(frame)
        if data is None:
            raise KeyError(f"layer {layer!r} was not sent to the worker")
        return data

    def version(self, layer: str, frame: int) -> int:
        return self._p.versions[layer].get(self._check(frame), 0)

    def versions(self, layer: str) -> np.ndarray:
        out = np.zeros(self.frame_count, np.int64)
        for frame, version in self._expand(self._p.versions[layer]).items():
            out[frame] = version
        return out

    def present(self, layer: str) -> dict[int, dict[int, int]]:
        """The ids each written map of the shot holds (`LayerStore.present`), counted from the maps sent."""
        return {f: self.present_on(layer, f) for f in range(self._p.shot.start, self._p.shot.end) if self.version(layer, f)}

    def present_on(self, layer: str, frame: int) -> dict[int, int]:
        data = self.read(layer, frame)
        return {} if data is None else label_counts(data)

    def meta(self, layer: str, frame: int) -> dict[str, Any]:
        return dict(self._p.metas[layer].get(self._check(frame), {}))

    def all_meta(self, layer: str) -> dict[int, dict[str, Any]]:
        return {f: dict(m) for f, m in self._expand(self._p.metas[layer]).items() if m}

    def write_record(self, name: str, frame: int, record: dict[str, Any]) -> None:
        frame = self._check(frame)
        self._p.records.setdefault(name, {})[frame] = stored_json(record)
        self._ops.append(Op("record", name, frame, body=record))

    def read_record(self, name: str, frame: int) -> dict[str, Any] | None:
        return self._p.records.get(name, {}).get(self._check(frame))

    def read_records(self, name: str) -> dict[int, dict[str, Any]]:
        return self._expand(self._p.records.get(name, {}))

    def write_vector(self, name: str, frame: int, vec: np.ndarray) -> None:
        frame = self._check(frame)
        self._ops.append(Op("vector", name, frame, np.asarray(vec, dtype=np.float32).ravel().copy()))

    def flush(self) -> None:
        """Nothing to flush: the project's writer makes the writes durable."""


class ShotWorkspace:
    """The subset of `app.store.Project` that stages use, over one `ShotPackage`; writes become `Op`."""

    def __init__(self, package: ShotPackage) -> None:
        self.package = package
        self.ops: list[Op] = []
        self.root = package.project
        self.manifest = _Manifest(list(package.objects), list(package.tracks))
        self.layers = WorkspaceLayers(package, self.ops)
        # Reads of objects and tracks (kinds, track -> object maps); registering new ones is the
        # segment stage's, which does it in the project's writer (see app.batch.segment).
        self.objects = ObjectStore(cast(Project, self))
        keys = np.arange(package.frame_count, dtype=np.int32)
        if package.keys:
            keys[package.shot.start : package.shot.end] = package.keys
        self.drawing_keys = keys

    def drawing_of(self, frame: int) -> int:
        return int(self.drawing_keys[frame])

    @property
    def frame_count(self) -> int:
        return self.package.frame_count

    @property
    def width(self) -> int:
        return self.package.width

    @property
    def height(self) -> int:
        return self.package.height

    @property
    def shots(self) -> list[Shot]:
        return self.package.shots

    def shot_of(self, frame: int) -> Shot:
        for shot in self.package.shots:
            if frame in shot:
                return shot
        raise IndexError(f"frame {frame} is outside the project (0..{self.frame_count - 1})")

    def frame(self, index: int) -> np.ndarray:
        image = self.package.frames.get(index)
        if image is None:
            raise IndexError(f"frame {index} is outside the shot sent to this worker")
        return image

    def masks_or_empty(self, frame: int) -> np.ndarray:
        labels = self.layers.read("masks", frame)
        return labels if labels is not None else np.zeros((self.height, self.width), np.uint8)


def apply_ops(project: Project, ops: list[Op]) -> int:
    """Replay a worker's writes on the real project, in order; returns how many layer writes landed.

    Raises `StaleShot` when a write gets another version than the worker computed with (the project
    changed under the shot, e.g. a correction in the app); the shot is then simply computed again.
    """
    first: dict[tuple[str, int], int] = {}
    for op in ops:
        if op.kind == "layer":
            first.setdefault((op.name, op.frame), op.version - 1)
    for (layer, frame), before in first.items():
        now = project.layers.version(layer, frame)
        if now != before:
            raise StaleShot(f"{layer} frame {frame} is at version {now}; the worker computed from version {before}")
    written = 0
    for op in ops:
        if op.kind == "layer":
            assert op.array is not None
            version = project.layers.write(op.name, op.frame, op.array, op.body)
            written += 1
            if version != op.version:
                raise StaleShot(f"{op.name} frame {op.frame} is at version {version}, the worker expected {op.version}")
        elif op.kind == "record":
            assert op.body is not None
            project.layers.write_record(op.name, op.frame, op.body)
        elif op.kind == "vector":
            assert op.array is not None
            project.layers.write_vector(op.name, op.frame, op.array)
        else:
            raise ValueError(f"unknown op {op.kind!r}")
    project.layers.flush()
    return written


class StaleShot(Exception):
    """The project changed while a worker computed one of its shots."""
