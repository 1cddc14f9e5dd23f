"""Per-frame layers: arrays (masks, mattes, effects, clean plates, confidence) in ``layers.h5``;
versions, meta, records and vectors in ``index.db``.

Every array layer has a per-frame version (0 = never written) and a per-frame JSON ``meta`` (backend,
parameters, input versions, status), which is what lets the pipeline decide exactly which results are
stale. Reading frame N touches only frame N's chunk.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import ProjectDamaged, ProjectError
from app.sources.cache import FrameCache
from app.store.events import EventHub, LayerWritten
from app.store.h5 import READ_RETRIES, FrameDamaged, H5Frames
from app.store.index import FrameIndex
from app.store.lock import live_holder
from models.classical.labelmaps import pixel_counts

LAYERS_FILE = "layers.h5"
INDEX_FILE = "index.db"


@dataclass(frozen=True)
class LayerSpec:
    channels: int  # 0 for single-channel (H, W)
    compression: str
    level: int | None
    doc: str
    stage: str  # the pipeline stage that writes it (its record is dropped when the layer is lost)


LAYERS: dict[str, LayerSpec] = {
    "segmentation": LayerSpec(0, "gzip", 4, "segment object-id label map, before temporal consistency", "segment"),
    "masks": LayerSpec(0, "gzip", 4, "final object-id label map (the propagate stage or the user), 0 = background", "propagate"),
    "alpha": LayerSpec(0, "gzip", 1, "character alpha matte, 0..255", "matte"),
    "effects": LayerSpec(0, "gzip", 1, "effect strength, 0..255", "effects"),
    # With `effects` as alpha, the RGBA light layer (composited additively over plate and characters).
    "effect_colour": LayerSpec(3, "lzf", None, "effect light colour at full strength, RGB", "effects"),
    "clean": LayerSpec(3, "lzf", None, "clean background plate, RGB", "inpaint"),
    "confidence": LayerSpec(0, "gzip", 1, "propagation confidence, 0..255", "propagate"),
    # 255: the frame shows this background pixel, 192: another frame of the shot does (stitched),
    # 0: no frame does (inpainted); see models.classical.inpaint.
    "plate_confidence": LayerSpec(0, "gzip", 1, "clean plate: observed (>= 128) or invented (0) pixels", "inpaint"),
}
PLATE_OBSERVED = 128  # plate confidence at or above this: a frame of the shot shows the pixel
# The last few label maps this process read or wrote, kept decoded: a click reads the masks its view
# has just shown and the view re-reads what the click has just written (a 1080p map is a gzip read of
# ~6 ms of CPU, behind the HDF5 lock any pipeline write holds). Four 1080p maps: 8 MB.
RECENT_LAYERS = ("masks",)
# Label maps whose ids are listed per frame in ``index.db`` as they are written (`LayerStore.present`):
# which objects (masks) or tracks (segmentation) a frame holds, without reading the map.
LABEL_LAYERS = ("segmentation", "masks")
RECENT_FRAMES = 4
DAMAGE_ADVICE = "`celstudio recover` (or Recover in the app) rebuilds it from the journal or marks it for a re-run."


def checksum(array: np.ndarray) -> int:
    """CRC-32 of an array's bytes, kept in ``index.db`` beside the version it belongs to."""
    return zlib.crc32(np.ascontiguousarray(array).data)


def label_counts(labels: np.ndarray) -> dict[int, int]:
    """The ids a label map holds (0 left out) and how many pixels each covers."""
    counts = pixel_counts(np.asarray(labels, np.uint8))
    return {int(i): int(counts[i]) for i in np.flatnonzero(counts[1:]) + 1}


def _parse_counts(body: str) -> dict[int, int] | None:
    """A stored list of ids, or None when it cannot be read (then it is worked out again)."""
    try:
        data = json.loads(body)
        return {int(k): int(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError):
        return None


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
        self,
        path: Path,
        frame_count: int,
        width: int,
        height: int,
        *,
        create: bool = False,
        events: EventHub | None = None,
        read_only: bool = False,
    ) -> None:
        self.read_only = read_only
        self.h5 = H5Frames(path, frame_count, create=create, read_only=read_only, advice=DAMAGE_ADVICE)
        try:
            self.index = FrameIndex(path.with_name(INDEX_FILE), read_only=read_only)
        except BaseException:
            self.h5.close()
            raise
        self.frame_count = frame_count
        self.width = width
        self.height = height
        self.events = events or EventHub()
        # Read-only opens cannot replay journalled corrections into the file; they are read from here.
        self.overlay: dict[tuple[str, int], np.ndarray] = {}
        # Arrays of `RECENT_LAYERS` keyed by (layer, frame, version, CRC-32): a key names one stored
        # array, so a newer write or a forgotten frame can never be answered with an older one. Only a
        # writing open keeps them (beside a writer in another process a read-only one must see the
        # file change).
        self._recent = FrameCache(0 if self.read_only else RECENT_FRAMES)
        # `present`'s lists of ids, keyed by the (version, CRC-32) of the map they were taken from.
        self._present: dict[tuple[str, int], tuple[tuple[int, int | None], dict[int, int]]] = {}

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
            crc = checksum(data)
            version = self.index.bump(layer, frame, meta or {}, crc)
            self._remember(layer, frame, version, crc, data)
            if layer in LABEL_LAYERS:
                # After the version: a kill between the two leaves a list that names an older version,
                # which `present` does not trust (it works that frame's list out again).
                counts = label_counts(data)
                self.index.put_present(layer, frame, version, crc, counts)
                self._present[(layer, frame)] = ((version, crc), counts)
        self.events.emit(LayerWritten(layer, frame, version))
        return version

    def read(self, layer: str, frame: int) -> np.ndarray | None:
        """The stored array, or None if the frame was never written."""
        if (layer, frame) in self.overlay:
            return self.overlay[(layer, frame)].copy()
        self.h5.check_frame(frame)
        if not self.read_only:
            return self._read_checked(layer, frame)
        # A reader beside a live writer (another process) may see a chunk index the writer has
        # since changed: read afresh a few times before calling anything damaged.
        for attempt in range(READ_RETRIES):
            try:
                return self._read_checked(layer, frame)
            except FrameDamaged as exc:
                pid = live_holder(self.h5.path.parent)
                if not pid:
                    raise
                if attempt == READ_RETRIES - 1:
                    who = f" (pid {pid})" if pid > 0 else ""
                    raise ProjectError(
                        f"Frame {frame} of {layer} could not be read while another Celstudio process{who} is "
                        "writing the project; try again, or close it there first."
                    ) from exc
                time.sleep(0.02 * (attempt + 1))
                self.h5.reopen()
        raise AssertionError("unreachable")

    def _remember(self, layer: str, frame: int, version: int, crc: int | None, data: np.ndarray) -> None:
        """Keep a copy of ``data`` as the array of ``version`` of a `RECENT_LAYERS` frame."""
        if layer in RECENT_LAYERS:
            self._recent.put((layer, frame, version, crc), data.copy())

    def _read_checked(self, layer: str, frame: int, *, recent: bool = True) -> np.ndarray | None:
        # The checksum and the array are read under the lock a write holds across both, so a read on
        # another thread of this process never pairs a new array with the old checksum (or the reverse)
        # and calls a frame being written "damaged".
        with self.h5.lock:
            version, crc = self.index.version_crc(layer, frame)
            if version == 0:
                return None
            kept = self._recent.get((layer, frame, version, crc)) if recent else None
            if kept is not None:
                return kept.copy()
            data = self.h5.read_row(f"layers/{layer}", frame)
        if data is not None and crc is not None and checksum(data) != crc:
            # Our own checksum: HDF5's Fletcher-32 passes an all-zero chunk (its sum of zeros is zero).
            raise FrameDamaged(
                f"Frame {frame} of layers/{layer} in {self.h5.path.name} is damaged (its checksum does not "
                f"match). {DAMAGE_ADVICE}",
                f"layers/{layer}",
                frame,
            )
        if data is not None:
            with self.h5.lock:
                # Only while the frame still has the version read: a write may have landed meanwhile.
                if self.index.version_crc(layer, frame) == (version, crc):
                    self._remember(layer, frame, version, crc, data)
        return data

    def present(self, layer: str) -> dict[int, dict[int, int]]:
        """For every written frame of a label layer (`LABEL_LAYERS`), the ids its map holds and their
        pixel counts, without reading the maps: the list is stored beside each version as it is
        written (`write`, the one way maps reach the file), so finding where an object is costs one
        query however long the project is. A frame whose list is missing (a project written before the
        lists), names another version, or cannot be read is worked out from its map and stored again,
        so the lists rebuild themselves. A damaged map counts as holding nothing."""
        written = self.index.all_version_crcs(layer)
        stored: dict[int, tuple[int, int | None, str]] | None = None
        out: dict[int, dict[int, int]] = {}
        for frame, key in sorted(written.items()):
            if key[0] <= 0 or not 0 <= frame < self.frame_count:
                continue
            if (layer, frame) in self.overlay:
                out[frame] = label_counts(self.overlay[(layer, frame)])
                continue
            memo = self._present.get((layer, frame))
            if memo is not None and memo[0] == key:
                out[frame] = memo[1]
                continue
            if stored is None:
                stored = self.index.all_present(layer)
            row = stored.get(frame)
            counts = _parse_counts(row[2]) if row is not None and (row[0], row[1]) == key else None
            if counts is None:
                counts = self._count_again(layer, frame)
            else:
                self._present[(layer, frame)] = (key, counts)
            if counts is not None:
                out[frame] = counts
        return out

    def present_on(self, layer: str, frame: int) -> dict[int, int]:
        """`present` for one frame, from a look-up or two (empty when its map is not written)."""
        key = self.index.version_crc(layer, frame)
        if key[0] <= 0:
            return {}
        if (layer, frame) in self.overlay:
            return label_counts(self.overlay[(layer, frame)])
        memo = self._present.get((layer, frame))
        if memo is not None and memo[0] == key:
            return memo[1]
        row = self.index.present_row(layer, frame)
        counts = _parse_counts(row[2]) if row is not None and (row[0], row[1]) == key else None
        if counts is None:
            counts = self._count_again(layer, frame)
        else:
            self._present[(layer, frame)] = (key, counts)
        return counts or {}

    def _count_again(self, layer: str, frame: int) -> dict[int, int] | None:
        """Read ``frame``'s map, list its ids and store the list (writable opens)."""
        try:
            if self.read_only:
                key, data = self.index.version_crc(layer, frame), self.read(layer, frame)
            else:
                with self.h5.lock:  # no write between the version read and the map read
                    key, data = self.index.version_crc(layer, frame), self._read_checked(layer, frame)
        except (FrameDamaged, ProjectError):
            return None
        if data is None:
            return None
        counts = label_counts(data)
        if not self.read_only:
            self.index.put_present(layer, frame, key[0], key[1], counts)
        self._present[(layer, frame)] = (key, counts)
        return counts

    def version(self, layer: str, frame: int) -> int:
        self.h5.check_frame(frame)
        return self.index.version(layer, frame)

    def versions(self, layer: str) -> np.ndarray:
        """Versions of every frame at once (for timeline status strips)."""
        return self.index.versions(layer, self.frame_count)

    def version_crcs(self, layer: str) -> dict[int, tuple[int, int | None]]:
        """Every written frame's version and the checksum written with it, at once."""
        return self.index.all_version_crcs(layer)

    def meta(self, layer: str, frame: int) -> dict[str, Any]:
        return self.index.meta(layer, frame)

    def all_meta(self, layer: str) -> dict[int, dict[str, Any]]:
        return self.index.all_meta(layer)

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

    # -- damage -------------------------------------------------------------------------------------
    def stored_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every array layer already in the file (to check the manifest against)."""
        for attempt in range(READ_RETRIES):
            try:
                with self.h5.lock:
                    group = self.h5.file.get("layers")
                    shapes = {} if group is None else {name: tuple(ds.shape) for name, ds in group.items()}
                return shapes
            except (OSError, RuntimeError, KeyError, AttributeError) as exc:
                # AttributeError: h5py hands back None for a link whose object it cannot read.
                if not self.read_only or attempt == READ_RETRIES - 1 or not live_holder(self.h5.path.parent):
                    raise ProjectDamaged(f"The layer file {self.h5.path.name} is damaged ({exc}).") from exc
                time.sleep(0.02 * (attempt + 1))
                self.h5.reopen()
        raise AssertionError("unreachable")

    def damaged_frames(self, full: tuple[str, ...] = ("masks",)) -> list[tuple[str, int]]:
        """Every written (layer, frame) whose chunk is damaged.

        Layers in ``full`` (the masks, which hold the user's corrections) are read and checked
        against their CRC-32. The others, which the pipeline can recompute, get the quick check of
        their raw chunk (present, not zeroed), so `recover` stays minutes, not hours, on a long 1080p
        project; anything else damaged there is still caught when it is read.
        """
        bad: list[tuple[str, int]] = []
        for layer in LAYERS:
            if not self.h5.has(f"layers/{layer}"):
                continue
            for frame in np.flatnonzero(self.versions(layer)):
                try:
                    if layer in full and not self.read_only:  # the file, not the recent maps in memory
                        self._read_checked(layer, int(frame), recent=False)
                    elif layer in full:
                        self.read(layer, int(frame))
                    elif not self.h5.raw_chunk_ok(f"layers/{layer}", int(frame)):
                        bad.append((layer, int(frame)))
                except FrameDamaged:
                    bad.append((layer, int(frame)))
        return bad

    def forget(self, layer: str, frame: int) -> None:
        """Mark a lost frame as never written, and the result of the stage that wrote it as missing,
        so the pipeline computes it again (and everything that read it turns stale)."""
        self.index.forget(layer, frame, f"stage/{LAYERS[layer].stage}")
        self._present.pop((layer, frame), None)
        self.events.emit(LayerWritten(layer, frame, 0))  # views showing the frame read it again

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
