"""Background tasks started from the UI (import, export, model download), reported via queued signals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

_RUNNING: set[Task] = set()


class Task(QObject):
    """Runs ``fn(progress, cancelled)`` on a thread; progress/finished/failed arrive on the UI thread."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[[Callable[[int, int], None], Callable[[], bool]], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.cancel_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="celstudio-task", daemon=True)

    def start(self) -> Task:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            result = self.fn(lambda done, total: self.progress.emit(int(done), int(total)), self.cancel_event.is_set)
        except BaseException as exc:  # handed to the UI thread, which shows it
            self.failed.emit(exc)
            return
        self.finished.emit(result)


def run_with_progress(parent: QWidget, title: str, fn: Callable[[Callable[[int, int], None], Callable[[], bool]], Any],
                      on_done: Callable[[Any], None], on_error: Callable[[BaseException], None]) -> Task:
    """Run ``fn`` in the background behind a cancellable progress dialog."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle("Celstudio")
    dialog.setMinimumDuration(300)
    task = Task(fn)
    queued = Qt.ConnectionType.QueuedConnection

    def show(done: int, total: int) -> None:
        dialog.setMaximum(max(total, 1))
        dialog.setValue(done)

    task.progress.connect(show, queued)
    dialog.canceled.connect(task.cancel_event.set)

    def finish(result: Any) -> None:
        dialog.reset()
        on_done(result)

    def fail(exc: BaseException) -> None:
        dialog.reset()
        on_error(exc)

    task.finished.connect(finish, queued)
    task.failed.connect(fail, queued)
    _RUNNING.add(task)  # keep the task alive while its thread runs
    task.finished.connect(lambda _r: _RUNNING.discard(task), queued)
    task.failed.connect(lambda _e: _RUNNING.discard(task), queued)
    return task.start()


def start_import(parent: QWidget, src: Path, target: Path, on_done: Callable[[Path], Any],
                 on_error: Callable[[BaseException], None]) -> Task:
    def work(progress: Callable[[int, int], None], cancelled: Callable[[], bool]) -> Path:
        from app.ingest.importer import import_source

        project = import_source(src, target, progress=progress, cancel=cancelled)
        project.close()
        return target

    return run_with_progress(parent, f"Importing {src.name}...", work, on_done, on_error)
