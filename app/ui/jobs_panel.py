"""The Jobs panel: running and queued jobs with progress, those that just ended, CPU and memory
gauges, the device, pause and cancel-all."""

from __future__ import annotations

import os

import psutil
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.ui.controller import FINISHED_SHOWN_S, MainController
from app.ui.icons import icon
from models.device import describe_device


class JobRow(QWidget):
    """One job: a title, a thin progress bar and a detail line that wraps instead of being clipped."""

    def __init__(self, panel: JobsPanel) -> None:
        super().__init__()
        self.job_id = 0
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: 600;")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(6)
        self.stop = QPushButton(icon("cancel"), "")
        self.stop.setFixedWidth(30)
        self.stop.clicked.connect(lambda: panel.c.cancel(self.job_id))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.stop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)

    def show_job(self, job_id: int, state: str, title: str, detail: str, done: int, total: int) -> None:
        self.job_id = job_id
        self.title.setText(title)
        self.detail.setText(detail)
        self.setToolTip(f"{title}: {detail}")
        self.stop.setVisible(state in ("running", "queued"))
        self.stop.setToolTip(f"Cancel {title}")
        if state == "running" and total == 0:
            self.bar.setRange(0, 0)  # busy: the job has not counted its frames yet
        else:
            self.bar.setRange(0, max(1, total))
            self.bar.setValue(done if state != "done" else max(1, total))
        colour = {"cancelled": "#d8a040", "failed": "#e05050"}.get(state, "")
        self.detail.setStyleSheet(f"color: {colour};" if colour else "")


NO_JOBS_TO_RUN = "No jobs. Pipeline > Run all stages (Ctrl+R) computes every layer."


def empty_text(work_left: dict[str, int]) -> str:
    """The jobs panel's line when no job is listed, from `summarize`'s counts of what is left."""
    frames = work_left.get("frames", 0)
    left = sum(work_left.get(k, 0) for k in ("stale", "missing", "failed", "running"))
    if frames and not left:
        return f"No jobs: all {frames} frames are up to date in every stage."
    if left:
        return f"No jobs. {left} of {frames} frames have work left: Pipeline > Run all stages (Ctrl+R)."
    return NO_JOBS_TO_RUN


class JobsPanel(QWidget):
    """Running and queued jobs with progress, speed and time left (plus, for a few seconds, those that
    were cancelled or failed); CPU and memory gauges; device; pause and cancel-all."""

    def __init__(self, controller: MainController) -> None:
        super().__init__()
        self.c = controller
        self.rows: list[JobRow] = []
        self.box = QWidget()
        self.box_layout = QVBoxLayout(self.box)
        self.box_layout.setContentsMargins(0, 0, 0, 0)
        self.box_layout.setSpacing(2)
        self.empty = QLabel(NO_JOBS_TO_RUN)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #9a9aa0;")
        self.box_layout.addWidget(self.empty)
        self.box_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.box)
        self.setMinimumWidth(220)
        self.cpu = QProgressBar()
        self.mem = QProgressBar()
        for bar, label in ((self.cpu, "CPU %p%"), (self.mem, "Memory %p%")):
            bar.setRange(0, 100)
            bar.setFormat(label)
        self.device = QLabel("device: -")
        self.device.setWordWrap(True)
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.setToolTip("Pause the pipeline: running jobs stop at the next frame; nothing resumes by itself")
        self.pause.toggled.connect(self.c.set_paused)
        self.cancel_all = QPushButton(icon("cancel"), "Cancel all")
        self.cancel_all.setToolTip("Cancel every running and queued job (asks first)")
        self.cancel_all.clicked.connect(self._cancel_all)
        gauges = QHBoxLayout()
        gauges.addWidget(self.cpu)
        gauges.addWidget(self.mem)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(scroll, 1)
        layout.addLayout(gauges)
        layout.addWidget(self.device)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.pause)
        row.addWidget(self.cancel_all)
        layout.addLayout(row)
        self.confirm_cancel = True  # tests switch the question off
        self._proc = psutil.Process(os.getpid())
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self._gauges)
        self._timer.start()
        # Progress events can come many times a second: rebuild the rows at most 5 times a second.
        self._coalesce = QTimer(self, singleShot=True, interval=200)
        self._coalesce.timeout.connect(self.refresh)
        controller.jobs_changed.connect(self._schedule)
        controller.project_changed.connect(self.refresh)
        controller.timeline_changed.connect(self._show_empty)  # stage status read again: what is left

    def _cancel_all(self) -> None:
        active = [line for line in self.c.job_lines() if line[1] in ("running", "queued")]
        if not active:
            return
        if self.confirm_cancel:
            answer = QMessageBox.question(self, "Cancel all jobs",
                                          f"Cancel {len(active)} job{'s' if len(active) != 1 else ''}? "
                                          "Frames already finished are kept.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.c.cancel()

    @Slot()
    def _schedule(self) -> None:
        if not self._coalesce.isActive():
            self._coalesce.start()

    @Slot()
    def refresh(self) -> None:
        lines = self.c.job_lines()
        while len(self.rows) < len(lines):
            row = JobRow(self)
            self.box_layout.insertWidget(len(self.rows), row)
            self.rows.append(row)
        for row, line in zip(self.rows, lines, strict=False):
            row.show_job(*line)
            row.setVisible(True)
        for row in self.rows[len(lines):]:
            row.setVisible(False)
        self.empty.setVisible(not lines)
        self._show_empty()
        self.pause.blockSignals(True)
        self.pause.setChecked(self.c.paused)
        self.pause.blockSignals(False)
        if any(line[1] in ("cancelled", "failed") for line in lines):
            QTimer.singleShot(int(FINISHED_SHOWN_S * 1000) + 100, self._schedule)  # then they go
        self._device()

    @Slot()
    def _show_empty(self) -> None:
        """With no job listed, say whether that is because every layer is done (a new user read the bare
        "No jobs" over a finished project as "nothing has run") or what is left to run."""
        self.empty.setText(empty_text(self.c.work_left if self.c.project is not None else {}))

    def visible_rows(self) -> list[JobRow]:
        return [row for row in self.rows if not row.isHidden()]

    def _device(self) -> None:
        # The runner chooses the device (`models.device`) when its first backend loads; until then
        # there is nothing to show, and asking must not import torch on the UI thread.
        runner = self.c.runner
        chosen = runner.device_in_use if runner is not None else None
        name = "no pipeline" if runner is None else describe_device(chosen) if chosen else "not chosen yet"
        self.device.setText(f"device: {name}")

    @Slot()
    def _gauges(self) -> None:
        if not self.isVisible():
            return
        if any(state == "running" and done == 0 for _, state, _, _, done, _ in self.c.job_lines()):
            self._schedule()  # a job before its first frame sends no events: its row tells how long it has worked
        self.cpu.setValue(int(psutil.cpu_percent(interval=None)))
        self.mem.setValue(int(psutil.virtual_memory().percent))
        self.mem.setToolTip(f"Celstudio uses {self._proc.memory_info().rss / 2**20:.0f} MiB")
