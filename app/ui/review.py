"""The review panel: per-shot trouble signals across the episode or season (pyqtgraph), and the worst
shot objects, worst first; opening one jumps to its frame and object.

The queue is built by `app.batch.review.build_queue` on a background task; this widget only shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.batch.review import SIGNALS, ReviewEntry, ReviewQueue, build_queue
from app.store.manifest import MANIFEST_NAME
from app.ui.workers import Task

if TYPE_CHECKING:
    from app.ui.controller import MainController

SIGNAL_COLOURS = {
    "low_confidence": (230, 159, 0), "flicker": (213, 94, 0), "ambiguity": (86, 180, 233),
    "small": (0, 158, 115), "fragmented": (204, 121, 167),
}
COLUMNS = ("score", "episode", "shot", "object", "frame", "why")


def review_root(project_root: Path) -> Path:
    """What to review for the open project: the season (its folder, when a batch put several projects
    there), else the project alone."""
    parent = project_root.parent
    siblings = [p for p in parent.iterdir() if (p / MANIFEST_NAME).exists()] if parent.is_dir() else []
    return parent if len(siblings) > 1 else project_root


class ReviewPanel(QWidget):
    """Plot of per-shot signals and the ranked list; double-click (or Enter) opens an entry."""

    opened = Signal(object)  # the ReviewEntry opened

    def __init__(self, controller: MainController, limit: int = 200) -> None:
        super().__init__()
        self.c = controller
        self.limit = limit
        self.queue: ReviewQueue | None = None
        self.root: Path | None = None
        self._task: Task | None = None
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(140)
        self.plot.setLabel("bottom", "shot (season order)")
        self.plot.setLabel("left", "signal")
        self.plot.addLegend(offset=(5, 5))
        self.plot.setYRange(0, 1.05)
        self.curves = {
            name: self.plot.plot([], [], pen=pg.mkPen(SIGNAL_COLOURS[name], width=2), name=name.replace("_", " "))
            for name in SIGNALS
        }
        self.score_curve = self.plot.plot([], [], pen=None, symbol="o", symbolSize=6, symbolBrush=(40, 40, 40), name="score")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.status = QLabel("Open a project, then Refresh.")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.table, 3)

    @Slot()
    def refresh(self) -> None:
        """Build the queue for the open project's episode or season in the background."""
        project = self.c.project
        if project is None or self._task is not None:
            return
        root = review_root(Path(project.root))
        self.root = root
        self.status.setText(f"Reading {root.name} ...")
        task = Task(lambda progress, cancelled: build_queue(root, opened=[project]))
        queued = Qt.ConnectionType.QueuedConnection
        task.finished.connect(self.show_queue, queued)
        task.failed.connect(self._failed, queued)
        self._task = task.start()

    def _failed(self, exc: BaseException) -> None:
        self._task = None
        self.status.setText("The review could not be built.")
        self.c.error.emit(exc)

    @Slot(object)
    def show_queue(self, queue: ReviewQueue) -> None:
        self._task = None
        self.queue = queue
        xs = list(range(len(queue.shots)))
        for name, curve in self.curves.items():
            curve.setData(xs, [s.signals.get(name, 0.0) for s in queue.shots])
        self.score_curve.setData(xs, [s.score for s in queue.shots])
        entries = queue.entries[: self.limit]
        self.table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            # Shots and frames from 1, as the timeline and the status line number them.
            values: tuple[Any, ...] = (f"{e.score:.3f}", e.episode, e.shot + 1, e.object_id, e.frame + 1, e.reason)
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
        episodes = len({s.episode for s in queue.shots})
        self.status.setText(f"{len(queue.entries)} shot objects in {len(queue.shots)} shots of {episodes} episode(s), worst first")

    def open_row(self, row: int) -> None:
        if self.queue is not None and 0 <= row < min(len(self.queue.entries), self.limit):
            self.open_entry(self.queue.entries[row])

    def open_entry(self, entry: ReviewEntry) -> None:
        """Jump to the entry's frame and object (opening its episode first when it is another one)."""
        current = self.c.project
        other = current is None or Path(current.root).resolve() != Path(entry.project).resolve()
        if other and not self.c.open_project(Path(entry.project)):
            return
        self.c.set_frame(entry.frame)
        self.c.set_object(entry.object_id)
        self.opened.emit(entry)
