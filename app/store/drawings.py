"""Which frames show the same drawing: the frame -> drawing map derived from the import's hold flags.

The flags (``held[i]``: frame ``i`` repeats the drawing of frame ``i - 1``) are found at import
(`app.ingest.holds`) and stored in media.h5; the map is derived from them and the current shots, so
splitting or merging shots never leaves a hold across a cut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.store.layers import LayerStore
from app.store.manifest import Shot


def drawing_keys(held: list[bool] | NDArray[np.bool_], shots: list[Shot]) -> NDArray[np.int32]:
    """For every frame, the first frame of its drawing (its *key*); a shot's first frame is always a key."""
    n = len(held)
    keys = np.arange(n, dtype=np.int32)
    starts = {s.start for s in shots}
    for i in range(1, n):
        if held[i] and i not in starts:
            keys[i] = keys[i - 1]
    return keys


class DrawingLayers:
    """The layer store seen through the drawing map: a frame's layers, records and versions are its
    drawing's. Every frame of a hold reads and writes its drawing's first frame, so a stage computes
    a drawing once, the result is stored once, and a correction on any frame of a hold applies to
    the whole hold (it is the same picture). Projects without holds map every frame to itself.

    Whole-project reads (`versions`, `all_meta`, `read_records`) are expanded to every frame, so
    status strips and exports see each held frame with its drawing's state."""

    def __init__(self, inner: LayerStore, keys: Callable[[], NDArray[np.int32]]) -> None:
        self.raw = inner
        self._keys = keys

    def __getattr__(self, name: str) -> Any:  # events, index, h5, journal_seq, flush, close, ...
        return getattr(self.raw, name)

    @property
    def journal_seq(self) -> int:
        return self.raw.journal_seq

    @journal_seq.setter
    def journal_seq(self, seq: int) -> None:
        self.raw.journal_seq = seq

    def key(self, frame: int) -> int:
        keys = self._keys()
        return int(keys[frame]) if 0 <= frame < len(keys) else frame

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> int:
        return self.raw.write(layer, self.key(frame), array, meta)

    def read(self, layer: str, frame: int) -> np.ndarray | None:
        return self.raw.read(layer, self.key(frame))

    def version(self, layer: str, frame: int) -> int:
        return self.raw.version(layer, self.key(frame))

    def present(self, layer: str) -> dict[int, dict[int, int]]:
        """Every frame's ids and pixel counts (`LayerStore.present`), a held frame's being its drawing's."""
        return _expand(self.raw.present(layer), self._keys())

    def present_on(self, layer: str, frame: int) -> dict[int, int]:
        return self.raw.present_on(layer, self.key(frame))

    def versions(self, layer: str) -> np.ndarray:
        return self.raw.versions(layer)[self._keys()]

    def meta(self, layer: str, frame: int) -> dict[str, Any]:
        return self.raw.meta(layer, self.key(frame))

    def all_meta(self, layer: str) -> dict[int, dict[str, Any]]:
        return _expand(self.raw.all_meta(layer), self._keys())

    def write_record(self, name: str, frame: int, record: dict[str, Any]) -> None:
        self.raw.write_record(name, self.key(frame), record)

    def read_record(self, name: str, frame: int) -> dict[str, Any] | None:
        return self.raw.read_record(name, self.key(frame))

    def read_records(self, name: str) -> dict[int, dict[str, Any]]:
        return _expand(self.raw.read_records(name), self._keys())

    def write_vector(self, name: str, frame: int, vec: np.ndarray) -> None:
        self.raw.write_vector(name, self.key(frame), vec)

    def read_vector(self, name: str, frame: int) -> np.ndarray | None:
        return self.raw.read_vector(name, self.key(frame))

    def forget(self, layer: str, frame: int) -> None:
        self.raw.forget(layer, self.key(frame))


def _expand(by_key: dict[int, Any], keys: NDArray[np.int32]) -> dict[int, Any]:
    """``{frame: value of its drawing}`` for every frame whose drawing has a value."""
    if not by_key:
        return {}
    return {f: by_key[int(k)] for f, k in enumerate(keys) if int(k) in by_key}
