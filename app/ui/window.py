"""The main window: menus, toolbar, status bar, the frame view, the timeline and the docks."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QVBoxLayout, QWidget

from app.errors import CelstudioError, ProjectDamaged
from app.ui import errors
from app.ui.controller import MainController
from app.ui.docks import LayersPanel, ObjectsPanel
from app.ui.files import FilesMixin
from app.ui.frame_view import FrameView
from app.ui.icons import icon
from app.ui.jobs_panel import JobsPanel
from app.ui.menus import build_actions, build_menus, build_toolbar, shortcut_rows
from app.ui.review import ReviewPanel
from app.ui.timeline import Timeline


class MainWindow(FilesMixin, QMainWindow):
    """Passive shell around a `MainController`; every action calls the controller (the actions and
    menus: `app.ui.menus`; opening and importing: `app.ui.files`)."""

    def __init__(self, controller: MainController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.c = controller
        self.settings = settings or QSettings("celstudio", "celstudio")
        self.actions_by_name: dict[str, QAction] = {}
        self.setWindowTitle("Celstudio")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self.recent_menu = QMenu("Recent projects", self)
        self._setup_central()
        build_actions(self)
        self.view_menu = build_menus(self)
        build_toolbar(self)
        self._fill_recent()
        self._setup_docks()
        self.work_label = QLabel()
        self.work_label.setToolTip("Frames whose layers are out of date (stale) or not computed yet")
        self.statusBar().addPermanentWidget(self.work_label)
        self.statusBar().showMessage("Open a project (Ctrl+O) or drop a video or image folder here.")
        controller.status.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        controller.timeline_changed.connect(self._show_work_left)
        controller.closing.connect(self.save_view_state)
        controller.auto_run = self._flag("auto_run", True)
        self.actions_by_name["auto_run"].setChecked(controller.auto_run)
        controller.error.connect(self.show_error)
        controller.damaged.connect(self._on_damaged)
        controller.read_only_offer.connect(self._on_read_only_offer)
        controller.project_changed.connect(self._on_project)
        controller.tool_changed.connect(self._on_tool)
        # The getting-started hint goes at the user's first action, key or frame change, not only a click on the frame.
        for name, action in self.actions_by_name.items():
            if name != "hint":
                action.triggered.connect(self.view.hide_hint)
        controller.frame_changed.connect(lambda _f: self.view.hide_hint())
        self._on_project()

    # -- layout -------------------------------------------------------------------------------------
    def _setup_central(self) -> None:
        self.view = FrameView(self.c)
        self.timeline = Timeline(self.c)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)

    def _setup_docks(self) -> None:
        self.objects_panel = ObjectsPanel(self.c)
        self.layers_panel = LayersPanel(self.c)
        self.jobs_panel = JobsPanel(self.c)
        self.review_panel = ReviewPanel(self.c)  # after a batch: the worst shots first (View > Review)
        self.docks: dict[str, QDockWidget] = {}
        for name, title, widget, area in (
            ("objects", "Objects", self.objects_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("layers", "Layers", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("jobs", "Jobs", self.jobs_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("review", "Review", self.review_panel, Qt.DockWidgetArea.BottomDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.view_menu.addAction(dock.toggleViewAction())
            self.docks[name] = dock
        self.docks["review"].hide()  # shown from the View menu when there is a batch to review

    # -- state --------------------------------------------------------------------------------------
    @Slot()
    def _on_project(self) -> None:
        has = self.c.project is not None
        piped = has and self.c.runner is not None
        for name in ("undo", "redo", "click", "box", "brush", "eraser", "fit", "side", "ab", "play"):
            self.actions_by_name[name].setEnabled(has)
        for name in ("run", "forward", "backward", "both", "cancel", "pause"):
            self.actions_by_name[name].setEnabled(piped)
        self.actions_by_name["export"].setEnabled(has)
        title = f"{self.c.project.manifest.name} - Celstudio" if self.c.project else "Celstudio"
        self.setWindowTitle(title)
        if has:
            assert self.c.project is not None
            self._remember(self.c.project.root)
            self.restore_view_state()
            if not self._flag("hint_seen", False):
                self.settings.setValue("hint_seen", True)
                QTimer.singleShot(0, lambda: self.view.show_hint(True))
        self._on_tool(self.c.tool)
        self._show_work_left()

    @Slot(str)
    def _on_tool(self, tool: str) -> None:
        for name in ("click", "box", "brush", "eraser"):
            self.actions_by_name[name].setChecked(name == tool)

    def _flag(self, key: str, default: bool) -> bool:
        value = self.settings.value(key, default)
        return value in (True, "true", "1", 1) if not isinstance(value, bool) else value

    def toggle_auto_run(self) -> None:
        self.c.auto_run = self.actions_by_name["auto_run"].isChecked()
        self.settings.setValue("auto_run", self.c.auto_run)

    @Slot()
    def _show_work_left(self) -> None:
        """The status bar's permanent count of frames with work left."""
        left = self.c.work_left if self.c.project is not None else {}
        self.actions_by_name["pause"].setChecked(self.c.paused)
        if not left:
            self.work_label.setText("")
            return
        parts = [f"{left[k]} frame{'s' if left[k] != 1 else ''} {word}" for k, word in
                 (("running", "running"), ("stale", "stale"), ("missing", "not computed"), ("failed", "failed"))
                 if left.get(k)]
        text = ", ".join(parts) if parts else "all frames up to date"
        self.work_label.setText(text + ("  (paused)" if self.c.paused else ""))
        self.work_label.setStyleSheet("color: #e0b040;" if left.get("stale") or left.get("failed") else "")

    def cancel_all(self) -> None:
        self.jobs_panel._cancel_all()

    # -- view state per project ---------------------------------------------------------------------
    def _view_key(self) -> str | None:
        if self.c.project is None:
            return None
        return "view/" + str(self.c.project.root.resolve()).replace("/", "|").replace("\\", "|")

    @Slot()
    def save_view_state(self) -> None:
        """Frame, zoom and centre, and layer visibility/opacity, kept per project for the next open."""
        key = self._view_key()
        if key is None:
            return
        state = {"frame": self.c.frame, **self.view.zoom_state(),
                 "layers": {n: [st.visible, st.opacity] for n, st in self.c.layers.items()}}
        self.settings.setValue(key, json.dumps(state))

    def restore_view_state(self) -> None:
        key = self._view_key()
        raw = self.settings.value(key) if key is not None else None
        if not raw:
            return
        try:
            state = json.loads(str(raw))
            for name, (visible, opacity) in state.get("layers", {}).items():
                if name in self.c.layers:
                    self.c.layers[name].visible, self.c.layers[name].opacity = bool(visible), float(opacity)
            self.c.layers_changed.emit()
            self.c.set_frame(int(state.get("frame", 0)))
            if not state.get("fit", True):
                self.view.set_zoom(float(state.get("zoom", 1.0)), float(state.get("cx", 0)), float(state.get("cy", 0)))
        except (ValueError, TypeError, KeyError):
            return  # a stale or hand-edited entry: open with the defaults

    def toggle_side(self) -> None:
        self.c.set_compare("off" if self.c.compare == "side" else "side")
        self.actions_by_name["side"].setChecked(self.c.compare == "side")

    # -- dialogs ------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        from app.ui.export_dialog import ExportDialog

        if self.c.project is not None:
            ExportDialog(self.c, self).exec()

    def settings_dialog(self) -> None:
        from app.ui.dialogs import SettingsDialog

        SettingsDialog(self.c, self).exec()

    def models_dialog(self) -> None:
        from app.ui.dialogs import ModelsDialog

        ModelsDialog(self).exec()

    def shortcuts_dialog(self) -> None:
        from app.ui.dialogs import ShortcutsDialog

        ShortcutsDialog(shortcut_rows(self.actions_by_name), self).exec()

    @Slot(object)
    def show_error(self, exc: BaseException) -> None:
        errors.show_error(self, exc)

    @Slot(object, object)
    def _on_damaged(self, path: Path, exc: ProjectDamaged) -> None:
        if errors.ask_recover(self, exc):
            if exc.recoverable.startswith("media"):
                self.reimport_media(path)
            else:
                self.c.open_project(path, recover=True)

    @Slot(object, object)
    def _on_read_only_offer(self, path: Path, exc: CelstudioError) -> None:
        if errors.ask_open_read_only(self, exc):
            self.c.open_project(path, read_only=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_view_state()
        self.c.close_project()
        super().closeEvent(event)

