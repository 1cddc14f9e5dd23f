"""Side panels: objects (add, rename, confirm, colour, merge, split, reassign, delete), layers (toggle, solo, opacity), jobs (progress, cancel)."""

from __future__ import annotations

import os
from functools import partial

import psutil
from PySide6.QtCore import QPoint, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.ui.controller import FINISHED_SHOWN_S, MainController
from app.ui.icons import icon
from app.ui.render import LAYER_LABELS, LAYER_ORDER
from models.device import describe_device


def _swatch(color: tuple[int, int, int]) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(QColor(*color))
    return QIcon(pm)


class ObjectsPanel(QWidget):
    """The project's objects, each with its colour swatch; the selected one is what clicks and brushes
    edit. Automatic names (not yet confirmed by the user) are in italics. The context menu holds the
    object edits; each is one undoable edit in the store (`app.store.objects`), run by the controller."""

    def __init__(self, controller: MainController) -> None:
        super().__init__()
        self.c = controller
        self.list = QListWidget()
        self.list.setEditTriggers(QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed)
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemChanged.connect(self._renamed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        buttons = QHBoxLayout()
        for name, tip, slot in (("add", "Add an object", self._add), ("settings", "Change colour", self._color),
                                ("delete", "Delete the object (in this shot or everywhere)", self._delete)):
            b = QPushButton(icon(name), "")
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        controller.objects_changed.connect(self.refresh)
        controller.project_changed.connect(self.refresh)
        self._filling = False

    @Slot()
    def refresh(self) -> None:
        self._filling = True
        self.list.clear()
        objects = self.c.project.manifest.objects if self.c.project else []
        for obj in objects:
            shown = self.c.object_color(obj.id) or tuple(obj.color)
            item = QListWidgetItem(_swatch(shown), obj.name)  # type: ignore[arg-type]
            item.setData(Qt.ItemDataRole.UserRole, obj.id)
            state = "confirmed" if obj.confirmed else "automatic name: rename or confirm it"
            item.setToolTip(f"id {obj.id}, {obj.kind}, {state}")
            if not obj.confirmed:
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if obj.id == self.c.object_id:  # the object clicks edit: selected, bold, marked
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                item.setToolTip(f"id {obj.id}, {obj.kind}: clicks and brushes edit this object (Esc to deselect)")
                self.list.setCurrentItem(item)
        if self.c.object_id is None:
            self.list.setCurrentRow(-1)
        self._filling = False

    def _current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _picked(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if not self._filling and item is not None:
            self.c.set_object(int(item.data(Qt.ItemDataRole.UserRole)))

    def _renamed(self, item: QListWidgetItem) -> None:
        if not self._filling:
            self.c.rename_object(int(item.data(Qt.ItemDataRole.UserRole)), item.text())

    def _add(self) -> None:
        self.c.add_object()

    def _color(self) -> None:
        oid = self._current_id()
        if oid is None or self.c.project is None or (obj := self.c.project.object(oid)) is None:
            return
        chosen = QColorDialog.getColor(QColor(*obj.color), self, f"Colour of {obj.name}")
        if chosen.isValid():
            self.c.recolor_object(oid, (chosen.red(), chosen.green(), chosen.blue()))

    def _delete(self) -> None:
        oid = self._current_id()
        if oid is None or self.c.project is None or (obj := self.c.project.object(oid)) is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Delete object", f"Delete {obj.name}?", parent=self)
        shot = box.addButton("In this shot", QMessageBox.ButtonRole.AcceptRole)
        everywhere = box.addButton("Everywhere", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is shot:
            self.c.delete_object(oid, this_shot=True)
        elif box.clickedButton() is everywhere:
            self.c.delete_object(oid)

    def menu_for(self, oid: int) -> QMenu:
        """The object's edits: rename, confirm, merge, split, reassign (this shot / to its end), delete."""
        menu = QMenu(self)
        project = self.c.project
        others = [o for o in (project.manifest.objects if project else []) if o.id != oid]
        item = next((self.list.item(i) for i in range(self.list.count())
                     if int(self.list.item(i).data(Qt.ItemDataRole.UserRole)) == oid), None)
        if item is not None:
            menu.addAction("Rename", lambda: self.list.editItem(item))
        info = project.object(oid) if project else None
        if info is not None and not info.confirmed:
            menu.addAction("Confirm name", lambda: self.c.confirm_object(oid))
        merge = menu.addMenu("Merge into")
        this_shot = menu.addMenu("Reassign in this shot to")
        to_end = menu.addMenu("Reassign from here to shot end to")
        for o in others:
            swatch = _swatch((int(o.color[0]), int(o.color[1]), int(o.color[2])))
            merge.addAction(swatch, o.name, partial(self.c.merge_objects, o.id, oid))
            this_shot.addAction(swatch, o.name, partial(self.c.reassign_object, oid, o.id))
            to_end.addAction(swatch, o.name, partial(self.c.reassign_object, oid, o.id, to_end=True))
        menu.addAction("Split this shot off as a new object", lambda: self.c.split_object(oid))
        menu.addSeparator()
        menu.addAction("Delete...", self._delete)
        return menu

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        self.menu_for(int(item.data(Qt.ItemDataRole.UserRole))).exec(self.list.mapToGlobal(pos))


class LayersPanel(QWidget):
    """One row per layer: visible, solo, opacity."""

    def __init__(self, controller: MainController) -> None:
        super().__init__()
        self.c = controller
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        self.checks: dict[str, QCheckBox] = {}
        self.solos: dict[str, QPushButton] = {}
        self.sliders: dict[str, QSlider] = {}
        for row, name in enumerate(reversed(LAYER_ORDER)):  # top of the stack first, as in editors
            check = QCheckBox(LAYER_LABELS[name])
            check.toggled.connect(lambda on, n=name: self.c.set_layer_visible(n, on))
            solo = QPushButton("S")
            solo.setCheckable(True)
            solo.setFixedWidth(30)
            solo.setStyleSheet("padding: 2px;")
            solo.setToolTip(f"Show only {LAYER_LABELS[name].lower()}")
            solo.clicked.connect(lambda _on, n=name: self.c.set_solo(n))
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setFixedWidth(80)
            slider.setToolTip("Opacity")
            slider.valueChanged.connect(lambda v, n=name: self.c.set_layer_opacity(n, v / 100))
            grid.addWidget(check, row, 0)
            grid.addWidget(solo, row, 1)
            grid.addWidget(slider, row, 2)
            self.checks[name], self.solos[name], self.sliders[name] = check, solo, slider
        grid.setRowStretch(len(LAYER_ORDER), 1)
        controller.layers_changed.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        for name in LAYER_ORDER:
            state = self.c.layers[name]
            for widget, setter in ((self.checks[name], lambda w, s=state: w.setChecked(s.visible)),
                                   (self.solos[name], lambda w, n=name: w.setChecked(self.c.solo == n)),
                                   (self.sliders[name], lambda w, s=state: w.setValue(round(s.opacity * 100)))):
                widget.blockSignals(True)
                setter(widget)
                widget.blockSignals(False)


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
        self.empty = QLabel("No jobs. Pipeline > Run all stages (Ctrl+R) computes every layer.")
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
        self.pause.blockSignals(True)
        self.pause.setChecked(self.c.paused)
        self.pause.blockSignals(False)
        if any(line[1] in ("cancelled", "failed") for line in lines):
            QTimer.singleShot(int(FINISHED_SHOWN_S * 1000) + 100, self._schedule)  # then they go
        self._device()

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
        self.cpu.setValue(int(psutil.cpu_percent(interval=None)))
        self.mem.setValue(int(psutil.virtual_memory().percent))
        self.mem.setToolTip(f"Celstudio uses {self._proc.memory_info().rss / 2**20:.0f} MiB")
