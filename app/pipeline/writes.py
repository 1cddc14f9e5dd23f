"""The pipeline's one way to the store: a bounded queue of writes drained by one writer thread.

Every layer array and stage record the pipeline produces (a batch stage's results, an interactive
propagation's streamed chunks) is written here, so computing the next frame overlaps writing the last
one, and a job's writes follow one error policy (`app.pipeline.context.RunContext`). Corrections are
the other way in: `app.store.Project.commit` journals them first, then applies them itself.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Write = Callable[[], None]


class WriteQueue:
    """Runs queued writes in order on its own thread; ``put`` blocks while ``maxsize`` are pending
    (results must not pile up in memory faster than the disk takes them)."""

    def __init__(self, maxsize: int = 32) -> None:
        self._queue: queue.Queue[Write | None] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._drain, name="pipeline-writer", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def put(self, write: Write) -> None:
        self._queue.put(write)

    def join(self) -> None:
        """Block until every write queued so far has run."""
        self._queue.join()

    def stop(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _drain(self) -> None:
        while True:
            write = self._queue.get()
            try:
                if write is None:
                    return
                write()
            except Exception:
                log.exception("write failed")
            finally:
                self._queue.task_done()
