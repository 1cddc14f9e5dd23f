"""A tiny, thread-safe publish/subscribe hub so views can observe the store without the store knowing them.

Callbacks run on the thread that emits (often the pipeline's writer thread); the Qt layer re-emits them
as queued signals onto the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerWritten:
    layer: str
    frame: int
    version: int


@dataclass(frozen=True)
class Committed:
    seq: int
    kind: str
    frames: tuple[int, ...]


@dataclass(frozen=True)
class ManifestChanged:
    what: str


Event = LayerWritten | Committed | ManifestChanged
Listener = Callable[[Event], None]


class EventHub:
    """Subscribers get every event; a failing subscriber never breaks the emitter."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                import logging

                logging.getLogger(__name__).exception("event listener failed")
