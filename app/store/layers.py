"""Per-frame layers in ``layers.h5``: masks, mattes, effects, clean plates, confidence, records.

Every array layer has a per-frame version (0 = never written) and a per-frame JSON ``meta`` (backend,
parameters, input versions, status), which is what lets the pipeline decide exactly which results are
stale. Reading frame N touches only frame N's chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.store.events import EventHub, LayerWritten
from app.store.h5 import STR_DTYPE, H5Frames


@dataclass(frozen=True)
class LayerSpec:
    channels: int  # 0 for single-channel (H, W)
    compression: str
    level: int | None
    doc: str


LAYERS: dict[str, LayerSpec] = {
    "segmentation": LayerSpec(0, "gzip", 4, "stage-1 object-id label map, before temporal consistency"),
    "masks": LayerSpec(0, "gzip", 4, "final object-id label map (stage 3 or the user), 0 = background"),
    "alpha": LayerSpec(0, "gzip", 1, "character alpha matte, 0..255"),
    "effects": LayerSpec(0, "gzip", 1, "effect strength, 0..255"),
    "clean": LayerSpec(3, "lzf", None, "clean background plate, RGB"),
    "confidence": LayerSpec(0, "gzip", 1, "propagation confidence, 0..255"),
}


def _text(row: np.ndarray) -> str:
    value = row.item() if isinstance(row, np.ndarray) else row
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return "" if value is None else str(value)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Soft maps in [0, 1] become 0..255; uint8 and bool arrays pass through."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


class LayerStore:
    """Read and write per-frame layers of one project; thread-safe."""

    def __init__(
        self, path: Path, frame_count: int, width: int, height: int, *, create: bool = False, events: EventHub | None = None
    ) -> None:
        self.h5 = H5Frames(path, frame_count, create=create)
        self.frame_count = frame_count
        self.width = width
        self.height = height
        self.events = events or EventHub()

    # -- array layers -------------------------------------------------------------------------------
    def _shape(self, layer: str) -> tuple[int, ...]:
        spec = LAYERS[layer]
        return (self.height, self.width, spec.channels) if spec.channels else (self.height, self.width)

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> int:
        """Store ``array`` for ``frame`` and return the layer's new version for that frame."""
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}")
        self.h5.check_frame(frame)
        data = np.asarray(array)
        if layer != "masks":
            data = to_uint8(data)
        elif data.dtype != np.uint8:
            data = data.astype(np.uint8)
        shape = self._shape(layer)
        if data.shape != shape:
            raise ValueError(f"{layer} frame must have shape {shape}, got {data.shape}")
        spec = LAYERS[layer]
        with self.h5.lock:
            ds = self.h5.dataset(f"layers/{layer}", shape, np.uint8, compression=spec.compression, level=spec.level)
            ds[frame] = data
            versions = self.h5.dataset(f"versions/{layer}", (), np.int64, compression=None)
            version = int(versions[frame]) + 1
            versions[frame] = version
            self._write_meta(layer, frame, meta or {})
        self.events.emit(LayerWritten(layer, frame, version))
        return version

    def read(self, layer: str, frame: int) -> np.ndarray | None:
        """The stored array, or None if the frame was never written."""
        if self.version(layer, frame) == 0:
            return None
        return self.h5.read_row(f"layers/{layer}", frame)

    def version(self, layer: str, frame: int) -> int:
        row = self.h5.read_row(f"versions/{layer}", frame)
        return 0 if row is None else int(row)

    def versions(self, layer: str) -> np.ndarray:
        """Versions of every frame at once (for timeline status strips)."""
        with self.h5.lock:
            if not self.h5.has(f"versions/{layer}"):
                return np.zeros(self.frame_count, dtype=np.int64)
            return np.asarray(self.h5.file[f"versions/{layer}"][:])

    def meta(self, layer: str, frame: int) -> dict[str, Any]:
        row = self.h5.read_row(f"meta/{layer}", frame)
        if row is None:
            return {}
        text = _text(row)
        return dict(json.loads(text)) if text else {}

    def write_meta(self, layer: str, frame: int, meta: dict[str, Any]) -> None:
        """Replace a frame's meta without touching its data (e.g. to mark a failure)."""
        self.h5.check_frame(frame)
        with self.h5.lock:
            self._write_meta(layer, frame, meta)

    def _write_meta(self, layer: str, frame: int, meta: dict[str, Any]) -> None:
        ds = self.h5.dataset(f"meta/{layer}", (), STR_DTYPE, compression=None)
        ds[frame] = json.dumps(meta, sort_keys=True, default=str)

    # -- records and vectors ------------------------------------------------------------------------
    def write_record(self, name: str, frame: int, record: dict[str, Any]) -> None:
        self.h5.check_frame(frame)
        with self.h5.lock:
            ds = self.h5.dataset(f"records/{name}", (), STR_DTYPE, compression=None)
            ds[frame] = json.dumps(record, sort_keys=True, default=str)

    def read_record(self, name: str, frame: int) -> dict[str, Any] | None:
        row = self.h5.read_row(f"records/{name}", frame)
        if row is None:
            return None
        text = _text(row)
        return dict(json.loads(text)) if text else None

    def write_vector(self, name: str, frame: int, vec: np.ndarray) -> None:
        self.h5.check_frame(frame)
        data = np.asarray(vec, dtype=np.float32).ravel()
        with self.h5.lock:
            ds = self.h5.dataset(f"vectors/{name}", (data.size,), np.float32, compression=None)
            if ds.shape[1:] != data.shape:
                raise ValueError(f"vector {name!r} has length {ds.shape[1]}, got {data.size}")
            ds[frame] = data
            written = self.h5.dataset(f"vectors_written/{name}", (), np.uint8, compression=None)
            written[frame] = 1

    def read_vector(self, name: str, frame: int) -> np.ndarray | None:
        flag = self.h5.read_row(f"vectors_written/{name}", frame)
        if flag is None or not int(flag):
            return None
        return self.h5.read_row(f"vectors/{name}", frame)

    # -- bookkeeping --------------------------------------------------------------------------------
    @property
    def journal_seq(self) -> int:
        """The last journal entry known to be applied to this file."""
        with self.h5.lock:
            return int(self.h5.file.attrs.get("journal_seq", 0))

    @journal_seq.setter
    def journal_seq(self, seq: int) -> None:
        with self.h5.lock:
            self.h5.file.attrs["journal_seq"] = int(seq)

    def flush(self) -> None:
        self.h5.flush()

    def close(self) -> None:
        self.h5.close()
