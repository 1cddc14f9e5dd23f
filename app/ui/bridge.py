"""Marshal store and runner events (emitted on worker threads) onto the UI thread as Qt signals.

Layer writes arrive one per frame and layer, possibly thousands a second during a batch run; they are
coalesced into one ``layers_dirty`` signal per event-loop turn so the UI repaints once, not per write.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.store.events import Committed, LayerWritten, ManifestChanged


class EventBridge(QObject):
    """Thread-safe sink for `EventHub` and runner callbacks; re-emits on the UI thread.

    Signals
    -------
    layers_dirty(dict)
        ``{layer: set of frames}`` written since the last emission.
    committed(object)
        A `Committed` journal event (corrections, undo, redo).
    manifest_changed(str)
        What changed in the manifest ("objects", "shots", ...).
    runner_event(object)
        A runner event (`JobProgress`, `JobFinished`, `FrameFailed`).
    """

    layers_dirty = Signal(object)
    committed = Signal(object)
    manifest_changed = Signal(str)
    runner_event = Signal(object)
    _kick = Signal()
    _forward = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._dirty: dict[str, set[int]] = defaultdict(set)
        self._scheduled = False
        # Queued explicitly: the emitting thread is often a plain Python thread.
        self._kick.connect(self._flush, Qt.ConnectionType.QueuedConnection)
        self._forward.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)

    # -- called on any thread -----------------------------------------------------------------------
    def on_store_event(self, event: Any) -> None:
        if isinstance(event, LayerWritten):
            self.mark_dirty(event.layer, (event.frame,))
        else:
            self._forward.emit(event)

    def on_runner_event(self, event: Any) -> None:
        # What a job wrote arrives once, from the store (`LayerWritten`); the runner reports jobs.
        self._forward.emit(event)

    def mark_dirty(self, layer: str, frames: tuple[int, ...]) -> None:
        with self._lock:
            self._dirty[layer].update(frames)
            if self._scheduled:
                return
            self._scheduled = True
        self._kick.emit()

    # -- UI thread ----------------------------------------------------------------------------------
    @Slot()
    def _flush(self) -> None:
        with self._lock:
            dirty = {k: v for k, v in self._dirty.items() if v}
            self._dirty = defaultdict(set)
            self._scheduled = False
        if dirty:
            self.layers_dirty.emit(dirty)

    @Slot(object)
    def _dispatch(self, event: Any) -> None:
        if isinstance(event, Committed):
            self.committed.emit(event)
        elif isinstance(event, ManifestChanged):
            self.manifest_changed.emit(event.what)
        else:
            self.runner_event.emit(event)
