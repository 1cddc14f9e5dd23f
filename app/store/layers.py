"""Per-frame layers in ``layers.h5``: masks, mattes, effects, clean plates, confidence, records.

Every array layer has a per-frame version (0 = never written) and a per-frame JSON ``meta`` (backend,
parameters, input versions, status), which is what lets the pipeline decide exactly which results are
stale. Reading frame N touches only frame N's chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.store.events import EventHub, LayerWritten
from app.store.h5 import H5Frames
from app.store.index import FrameIndex

INDEX_FILE = "index.db"


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
    # 255: the frame shows this background pixel, 192: another frame of the shot does (stitched),
    # 0: no frame does (inpainted); see models.classical.inpaint.
    "plate_confidence": LayerSpec(0, "gzip", 1, "clean plate: observed (>= 128) or invented (0) pixels"),
}


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
    """Read and write per-frame layers of one project; thread-safe.

    Arrays live in ``layers.h5`` (``path``); versions, meta, records and vectors in ``index.db``
    beside it (see `app.store.index`).
    """

    def __init__(
        self, path: Path, frame_count: int, width: int, height: int, *, create: bool = False, events: EventHub | None = None
    ) -> None:
        self.h5 = H5Frames(path, frame_count, create=create)
        try:
            self.index = FrameIndex(path.with_name(INDEX_FILE))
        except BaseException:
            self.h5.close()
            raise
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
        data = to_uint8(np.asarray(array))
        shape = self._shape(layer)
        if data.shape != shape:
            raise ValueError(f"{layer} frame must have shape {shape}, got {data.shape}")
        spec = LAYERS[layer]
        with self.h5.lock:
            self.h5.write_row(f"layers/{layer}", frame, data, compression=spec.compression, level=spec.level)
            # The array must be in the file before its version says so.
            self.h5.flush()
            version = self.index.bump(layer, frame, meta or {})
        self.events.emit(LayerWritten(layer, frame, version))
        return version

    def read(self, layer: str, frame: int) -> np.ndarray | None:
        """The stored array, or None if the frame was never written."""
        if self.version(layer, frame) == 0:
            return None
        return self.h5.read_row(f"layers/{layer}", frame)

    def version(self, layer: str, frame: int) -> int:
        self.h5.check_frame(frame)
        return self.index.version(layer, frame)

    def versions(self, layer: str) -> np.ndarray:
        """Versions of every frame at once (for timeline status strips)."""
        return self.index.versions(layer, self.frame_count)

    def meta(self, layer: str, frame: int) -> dict[str, Any]:
        return self.index.meta(layer, frame)

    def all_meta(self, layer: str) -> dict[int, dict[str, Any]]:
        return self.index.all_meta(layer)

    def write_meta(self, layer: str, frame: int, meta: dict[str, Any]) -> None:
        """Replace a frame's meta without touching its data (e.g. to mark a failure)."""
        self.h5.check_frame(frame)
        self.index.set_meta(layer, frame, meta)

    # -- records and vectors ------------------------------------------------------------------------
    def write_record(self, name: str, frame: int, record: dict[str, Any]) -> None:
        self.h5.check_frame(frame)
        self.index.put_record(name, frame, record)

    def read_record(self, name: str, frame: int) -> dict[str, Any] | None:
        self.h5.check_frame(frame)
        return self.index.record(name, frame)

    def read_records(self, name: str) -> dict[int, dict[str, Any]]:
        """Every frame's record ``name`` at once."""
        return self.index.records(name)

    def write_vector(self, name: str, frame: int, vec: np.ndarray) -> None:
        self.h5.check_frame(frame)
        self.index.put_vector(name, frame, np.asarray(vec, dtype=np.float32).ravel())

    def read_vector(self, name: str, frame: int) -> np.ndarray | None:
        self.h5.check_frame(frame)
        return self.index.vector(name, frame)

    # -- bookkeeping --------------------------------------------------------------------------------
    @property
    def journal_seq(self) -> int:
        """The last journal entry known to be applied to this file."""
        return int(self.index.get("journal_seq", "0"))

    @journal_seq.setter
    def journal_seq(self, seq: int) -> None:
        self.index.set("journal_seq", str(int(seq)))

    def flush(self) -> None:
        self.h5.flush()

    def close(self) -> None:
        self.h5.close()
        self.index.close()
