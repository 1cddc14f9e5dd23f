"""Lazy, prefetched access to a shot's frames with a bounded number of decoded frames in memory, and
the frames a stage's batches share, each decoded once (`HeldFrames`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import overload

import numpy as np

from app.sources.cache import FrameCache
from app.store import Project


class ShotFrames(Sequence[np.ndarray]):
    """The frames ``indices`` of a project as a lazy sequence.

    A background thread decodes ahead of the last frame asked for (sequential reads are the common
    case), and at most ``capacity`` decoded frames are held. ``load`` reads a frame by its index
    (`Project.frame` unless given: a `HeldFrames`' ``get`` shares frames between batches).
    """

    def __init__(
        self, project: Project, indices: Sequence[int], *, capacity: int = 24, prefetch: int = 6,
        load: Callable[[int], np.ndarray] | None = None,
    ) -> None:
        self.project = project
        self.load = load if load is not None else project.frame
        self.indices = list(indices)
        self.capacity = max(capacity, prefetch + 2)
        self.prefetch = prefetch
        self._cache = FrameCache(self.capacity)  # keyed by position in ``indices``
        self._lock = threading.Lock()  # guards the prefetch position; the cache has its own lock
        self._wanted = threading.Condition(self._lock)
        self._next = 0
        self._loading: dict[int, Future[np.ndarray]] = {}  # positions being read, by either thread
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
        with self._lock:
            self._next = i + 1
            self._wanted.notify()
        return self._fetch(i)

    def _fetch(self, i: int) -> np.ndarray:
        """Frame ``i`` from the cache, else read once: a thread asking for a frame the other is
        reading waits for it instead of decoding it again."""
        with self._lock:
            frame = self._cache.get(i)
            if frame is not None:
                return frame
            pending = self._loading.get(i)
            mine = pending is None
            if pending is None:
                pending = self._loading[i] = Future()
        if not mine:
            return pending.result()
        try:
            frame = self._cache.put(i, self.load(self.indices[i]))
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        else:
            pending.set_result(frame)
        finally:
            with self._lock:
                del self._loading[i]
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
                self._fetch(todo)
            except Exception:
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted.notify_all()


HELD_BYTES = 256 << 20  # `HeldFrames`' bound: 42 frames of 1080p RGB, 10 of 4K
NEVER = 1 << 62  # `HeldFrames._next_use` of a frame no batch still to run reads


class HeldFrames:
    """The decoded frames of a stage's batches over one shot, each decoded once: ``batches`` (frame
    indices, in the order the batches run) are known in advance, so a frame is held from its first
    read until `finish` of the last batch that uses it.

    The project's own cache holds 8 frames, so without this a later batch decoded again the frames of
    an earlier one its sample shares (~13 ms of CPU a 1080p frame of the slice, read near in order). At most
    ``max_bytes`` of frames are held: beyond, the held frame whose next batch is latest is dropped
    (and decoded again when that batch reads it: the same pixels). Safe to share with `ShotFrames`'
    prefetch thread.
    """

    def __init__(self, load: Callable[[int], np.ndarray], batches: Sequence[Sequence[int]], *,
                 max_bytes: int = HELD_BYTES) -> None:
        self._load = load
        self.max_bytes = max_bytes
        self._uses: dict[int, list[int]] = {}  # frame -> the batches reading it, ascending
        for n, batch in enumerate(batches):
            for f in dict.fromkeys(batch):
                self._uses.setdefault(f, []).append(n)
        self._held: dict[int, np.ndarray] = {}
        self._read: dict[int, int] = {}  # frame -> the last batch that read it
        self._batch = 0  # the batch running now: earlier ones are finished
        self._lock = threading.Lock()

    def get(self, index: int) -> np.ndarray:
        with self._lock:
            frame = self._held.get(index)
        if frame is None:
            frame = self._load(index)  # outside the lock: the prefetch thread and the stage read at once
        with self._lock:
            self._read[index] = self._batch
            if self._next_use(index) == NEVER:
                self._held.pop(index, None)  # the batch's `ShotFrames` holds it while the batch runs
            else:
                self._held[index] = frame
                self._trim()
        return frame

    def finish(self, batch: int) -> None:
        """Batch ``batch`` is done: drop the frames no later batch reads."""
        with self._lock:
            self._batch = batch + 1
            for f in [f for f in self._held if self._next_use(f) == NEVER]:
                del self._held[f]

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return sum(frame.nbytes for frame in self._held.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def _next_use(self, index: int) -> int:
        """The next batch that reads ``index``: this one, unless it has read it already."""
        after = self._batch + (self._read.get(index) == self._batch)
        return next((n for n in self._uses.get(index, ()) if n >= after), NEVER)

    def _trim(self) -> None:
        total = sum(frame.nbytes for frame in self._held.values())
        while total > self.max_bytes:
            latest = max(self._held, key=self._next_use)
            total -= self._held.pop(latest).nbytes
