"""The one LRU cache of decoded frames, used by the video and image-folder sources, the project's
imported frames, the pipeline's prefetched shot frames and the layer store's recently read or
written label maps.

It lives with the sources, the lowest layer that decodes frames, so every layer above can use it.
(The UI's loader caches rendered images, not frames, and keeps its own.)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np


class FrameCache:
    """At most ``capacity`` decoded frames, keyed by frame index (or any hashable key), least recently
    used evicted first.

    A stored frame is made read-only: the same array is handed to every reader, so a reader that
    wrote into it would silently change what every later reader sees. Safe to share between threads
    (a UI thread and a worker, or a prefetch thread and its consumer). ``capacity`` 0 keeps nothing.
    ``max_bytes``: also at most this many bytes in all (the most recent frame is kept whatever its size),
    for a cache whose frames' size is not known in advance.
    """

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        self.capacity = max(0, int(capacity))
        self.max_bytes = max_bytes
        self._frames: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, index: Hashable) -> np.ndarray | None:
        """The stored frame ``index`` (now the most recently used), or None."""
        with self._lock:
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
            return frame

    def put(self, index: Hashable, frame: np.ndarray) -> np.ndarray:
        """Store ``frame`` (the cache takes it: it becomes read-only) and return it."""
        frame.flags.writeable = False
        if not self.capacity:
            return frame
        with self._lock:
            old = self._frames.pop(index, None)
            self._bytes += frame.nbytes - (old.nbytes if old is not None else 0)
            self._frames[index] = frame
            while len(self._frames) > self.capacity or (
                self.max_bytes is not None and len(self._frames) > 1 and self._bytes > self.max_bytes
            ):
                self._bytes -= self._frames.popitem(last=False)[1].nbytes
        return frame

    def get_or_load(self, index: int, load: Callable[[int], np.ndarray]) -> np.ndarray:
        """The stored frame ``index``, else ``load(index)``, stored. ``load`` runs outside the cache's
        lock, so two threads missing the same frame may both load it (the later one is kept)."""
        frame = self.get(index)
        return frame if frame is not None else self.put(index, load(index))

    def __contains__(self, index: object) -> bool:
        with self._lock:
            return index in self._frames

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0
