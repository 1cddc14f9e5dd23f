"""Lazy, prefetched access to a shot's frames with a bounded number of decoded frames in memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import overload

import numpy as np

from app.sources.cache import FrameCache
from app.store import Project


class ShotFrames(Sequence[np.ndarray]):
    """The frames ``indices`` of a project as a lazy sequence.

    A background thread decodes ahead of the last frame asked for (sequential reads are the common
    case), and at most ``capacity`` decoded frames are held.
    """

    def __init__(self, project: Project, indices: Sequence[int], *, capacity: int = 24, prefetch: int = 6) -> None:
        self.project = project
        self.indices = list(indices)
        self.capacity = max(capacity, prefetch + 2)
        self.prefetch = prefetch
        self._cache = FrameCache(self.capacity)  # keyed by position in ``indices``
        self._lock = threading.Lock()  # guards the prefetch position; the cache has its own lock
        self._wanted = threading.Condition(self._lock)
        self._next = 0
        self._closed = False
        self._thread = threading.Thread(target=self._prefetch_loop, name="frame-prefetch", daemon=True)
        if prefetch > 0 and len(self.indices) > 1:
            self._thread.start()

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, i: slice) -> list[np.ndarray]: ...

    def __getitem__(self, i: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        frame = self._cache.get(i)
        with self._lock:
            self._next = i + 1
            self._wanted.notify()
        if frame is None:
            frame = self._cache.put(i, self.project.frame(self.indices[i]))
        return frame

    def _prefetch_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and all(
                    j in self._cache for j in range(self._next, min(self._next + self.prefetch, len(self)))
                ):
                    self._wanted.wait(timeout=0.5)
                if self._closed:
                    return
                todo = next(j for j in range(self._next, min(self._next + self.prefetch, len(self))) if j not in self._cache)
            try:
                frame = self.project.frame(self.indices[todo])
            except Exception:
                return
            self._cache.put(todo, frame)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted.notify_all()
