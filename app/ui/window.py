"""The main window: menus, toolbar, status bar, the frame view, the timeline and the docks."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from app.errors import CelstudioError, ProjectDamaged
from app.sources.source import VIDEO_SUFFIXES
from app.ui import errors
from app.ui.controller import MainController
from app.ui.docks import JobsPanel, LayersPanel, ObjectsPanel
from app.ui.frame_view import FrameView
from app.ui.icons import icon
from app.ui.render import LAYER_LABELS, LAYER_ORDER
from app.ui.review import ReviewPanel
from app.ui.timeline import Timeline
from app.ui.workers import start_import

MAX_RECENT = 20
# Canvas gestures have no QAction; the shortcut sheet lists them with the actions' keys.
GESTURES: tuple[tuple[str, str], ...] = (
    ("Left click", "Point tool: add to the active object (with none active: select the object under it,\n"
                   "or start a new object on background)"),
    ("Right click", "Point tool: remove from the active object"),
    ("Drag", "Box tool (R), or Shift+drag with the point tool: a box around the object"),
    ("Drag", "Brush (B) / eraser (E): paint or erase; the circle shows the brush size"),
    ("Wheel", "Zoom the frame; over the timeline: zoom the timeline"),
    ("Space+drag, middle drag", "Pan the frame"),
    ("Space", "Play / pause"),
    ("Shift+wheel", "Timeline: scroll"),
)


class MainWindow(QMainWindow):
    """Passive shell around a `MainController`; every action calls the controller."""

    def __init__(self, controller: MainController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.c = controller
        self.settings = settings or QSettings("celstudio", "celstudio")
        self.actions_by_name: dict[str, QAction] = {}
        self.setWindowTitle("Celstudio")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self._setup_central()
        self._setup_actions()
        self._setup_menus()
        self._setup_toolbar()
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

    def _act(self, name: str, text: str, slot: Callable[[], Any], shortcut: str | QKeySequence.StandardKey | None = None,
             icon_name: str | None = None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(icon(icon_name) if icon_name else icon(""), text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip or text.replace('&', '')} ({keys})" if keys else (tip or text.replace("&", "")))
        action.setStatusTip(tip or text.replace("&", ""))
        action.setCheckable(checkable)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # window-wide shortcuts, whichever child has focus
        self.actions_by_name[name] = action
        return action

    def _setup_actions(self) -> None:
        c = self.c
        a = self._act
        a("open", "&Open project...", self.open_dialog, QKeySequence.StandardKey.Open, "open")
        a("import", "&Import video...", self.import_dialog, "Ctrl+I", "import")
        a("import_folder", "Import image &folder...", self.import_folder_dialog, "Ctrl+Shift+I")
        a("export", "&Export...", self.export_dialog, "Ctrl+E", "export")
        a("reimport", "Re-import &media from source...", self.reimport_media, None, None,
          "Rebuild proxies, thumbnails and the frame index from the source video or folder")
        a("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit)
        a("undo", "&Undo", c.undo, "Ctrl+Z", "undo")
        a("redo", "&Redo", c.redo, "Ctrl+Shift+Z", "redo")
        a("run", "&Run all stages", c.run_all, "Ctrl+R", "run", "Run the pipeline on every shot")
        # Propagation always takes Ctrl: the bare bracket keys size the brush (as in every paint
        # program), so a missed modifier changes the brush, never launches a propagation.
        a("forward", "Propagate &forward", lambda: c.propagate("forward"), "Ctrl+]", "forward",
          "Propagate the current masks forward through the shot")
        a("backward", "Propagate &backward", lambda: c.propagate("backward"), "Ctrl+[", "backward",
          "Propagate the current masks backward through the shot")
        a("both", "Propagate &both ways", lambda: c.propagate("both"), "Ctrl+P", "both",
          "Propagate the current masks both ways through the shot")
        a("dismiss", "&Clear prompt / deselect", c.dismiss, "Esc", None,
          "Clear this frame's points and box; again: deselect the object (never cancels jobs)")
        a("cancel", "&Cancel all jobs...", self.cancel_all, "Shift+Esc", "cancel",
          "Cancel every running and queued job (asks first)")
        a("pause", "&Pause pipeline", lambda: c.set_paused(not c.paused), "Ctrl+Shift+P", None,
          "Pause or resume the pipeline; while paused nothing resumes by itself", checkable=True)
        a("auto_run", "Run &after import and open", self._toggle_auto_run, None, None,
          "Start the pipeline by itself on a project that has not run yet", checkable=True)
        a("click", "Point tool", lambda: c.set_tool("click"), "V", "click",
          "Left click adds, right click removes (Shift+drag: box)", checkable=True)
        a("box", "Box tool", lambda: c.set_tool("box"), "R", "click", "Drag a box around the object",
          checkable=True)
        a("brush", "Brush", lambda: c.set_tool("brush"), "B", "brush", "Paint into the object's mask", checkable=True)
        a("eraser", "Eraser", lambda: c.set_tool("eraser"), "E", "eraser", "Erase from the object's mask",
          checkable=True)
        a("brush_bigger", "Bigger brush", lambda: c.resize_brush(1.25), "]", None, "Grow the brush and eraser")
        a("brush_smaller", "Smaller brush", lambda: c.resize_brush(0.8), "[", None, "Shrink the brush and eraser")
        a("settings", "&Settings...", self.settings_dialog, "Ctrl+,", "settings")
        a("models", "&Models...", self.models_dialog, None, "models", "Model weights: list and download")
        a("fit", "&Fit to window", self.view.fit, "F", "fit")
        a("side", "&Side by side with clean plate", self._toggle_side, "Shift+A", "compare", checkable=True)
        a("ab", "&A/B flip frame and clean plate", c.flip_ab, "A")
        a("next", "Next frame", lambda: c.step(1), "Right")
        a("prev", "Previous frame", lambda: c.step(-1), "Left")
        a("next10", "Forward 10 frames", lambda: c.step(10), "Shift+Right")
        a("prev10", "Back 10 frames", lambda: c.step(-10), "Shift+Left")
        a("first", "First frame", c.first, "Home")
        a("last", "Last frame", c.last, "End")
        a("next_shot", "Next shot", c.next_shot, "PgDown")
        a("prev_shot", "Previous shot", c.prev_shot, "PgUp")
        a("play", "Play / Pause\tSpace", c.toggle_play, None, "play", "Play or pause (Space)")
        a("split_shot", "Split shot &here", c.split_shot, "Ctrl+K", None, "Start a new shot at this frame")
        a("merge_shot", "&Merge with next shot", c.merge_shot, "Ctrl+Shift+K", None, "Join this shot and the next")
        for i, name in enumerate(reversed(LAYER_ORDER), start=1):
            a(f"layer_{name}", f"Show {LAYER_LABELS[name].lower()}", partial(c.toggle_layer, name), str(i))
            a(f"solo_{name}", f"Solo {LAYER_LABELS[name].lower()}", partial(c.set_solo, name), f"Alt+{i}")
        a("shortcuts", "&Keyboard shortcuts", self.shortcuts_dialog, "F1", None, "Every key and gesture in one place")
        a("hint", "Show the &getting-started hint", lambda: self.view.show_hint(True), None, None)

    def _setup_menus(self) -> None:
        bar = self.menuBar()
        get = self.actions_by_name
        file_menu = bar.addMenu("&File")
        file_menu.addActions([get["open"], get["import"], get["import_folder"]])
        self.recent_menu = QMenu("Recent projects", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(get["export"])
        file_menu.addAction(get["reimport"])
        file_menu.addSeparator()
        file_menu.addAction(get["quit"])
        edit = bar.addMenu("&Edit")
        edit.addActions([get["undo"], get["redo"]])
        edit.addSeparator()
        edit.addActions([get["dismiss"]])
        edit.addSeparator()
        edit.addActions([get["click"], get["box"], get["brush"], get["eraser"], get["brush_bigger"],
                         get["brush_smaller"]])
        edit.addSeparator()
        edit.addActions([get["split_shot"], get["merge_shot"]])
        edit.addSeparator()
        edit.addAction(get["settings"])
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addActions([get["fit"], get["side"], get["ab"], get["play"]])
        layers = self.view_menu.addMenu("Layers")
        for name in reversed(LAYER_ORDER):
            layers.addActions([get[f"layer_{name}"], get[f"solo_{name}"]])
        nav = self.view_menu.addMenu("Go to")
        nav.addActions([get[k] for k in ("prev", "next", "prev10", "next10", "first", "last", "prev_shot", "next_shot")])
        self.view_menu.addSeparator()
        pipeline = bar.addMenu("&Pipeline")
        pipeline.addActions([get["run"], get["forward"], get["backward"], get["both"], get["pause"], get["cancel"]])
        pipeline.addSeparator()
        pipeline.addActions([get["auto_run"], get["models"]])
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([get["shortcuts"], get["hint"]])
        self._fill_recent()

    def _setup_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        get = self.actions_by_name
        for group in (("open", "import", "export"), ("undo", "redo"), ("click", "box", "brush", "eraser"),
                      ("run", "backward", "both", "forward", "cancel"), ("play", "fit", "side"), ("settings", "models")):
            tb.addActions([get[k] for k in group])
            tb.addSeparator()

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

    def _toggle_auto_run(self) -> None:
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

    def _toggle_side(self) -> None:
        self.c.set_compare("off" if self.c.compare == "side" else "side")
        self.actions_by_name["side"].setChecked(self.c.compare == "side")

    # -- recent projects ----------------------------------------------------------------------------
    def recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]

    def _remember(self, root: Path) -> None:
        paths = [str(root)] + [p for p in self.recent() if p != str(root)]
        self.settings.setValue("recent", paths[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent():
            self.recent_menu.addAction(path, partial(self.c.open_project, Path(path)))
        self.recent_menu.setEnabled(bool(self.recent()))

    # -- dialogs ------------------------------------------------------------------------------------
    def _last_place(self, key: str) -> str:
        """The folder last used for ``key`` (open, import source, projects), else the home folder."""
        value = str(self.settings.value(f"places/{key}", "") or "")
        return value if value and Path(value).is_dir() else str(Path.home())

    def _remember_place(self, key: str, folder: Path) -> None:
        self.settings.setValue(f"places/{key}", str(folder))

    def open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Celstudio project", self._last_place("open"))
        if folder:
            self._remember_place("open", Path(folder).parent)
            self.c.open_project(Path(folder))

    def import_dialog(self) -> None:
        src, _ = QFileDialog.getOpenFileName(self, "Import a video", self._last_place("source"),
                                             f"Videos ({' '.join(f'*{s}' for s in sorted(VIDEO_SUFFIXES))})")
        if src:
            self._remember_place("source", Path(src).parent)
            self.import_path(Path(src))

    def import_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of images (png, jpg, webp)",
                                                  self._last_place("source"))
        if folder:
            self._remember_place("source", Path(folder).parent)
            self.import_path(Path(folder))

    def ask_target(self, src: Path) -> Path | None:
        """Ask where the new project goes: a parent folder (the last one used) and a name."""
        parent = QFileDialog.getExistingDirectory(self, f"Where should the project for {src.name} go?",
                                                  self._last_place("projects"))
        if not parent:
            return None
        name, ok = QInputDialog.getText(self, "Project name", f"Name of the project folder in {parent}:",
                                        text=free_name(Path(parent), src.stem).name)
        if not ok or not name.strip():
            return None
        self._remember_place("projects", Path(parent))
        return free_name(Path(parent), name.strip())

    def import_path(self, src: Path, target: Path | None = None) -> None:
        """Import a video or image folder into a new project (asking where), then open and run it."""
        if target is None:
            target = self.ask_target(src)
            if target is None:
                return
        start_import(self, src, target, on_done=lambda root: self.c.open_project(root), on_error=self.show_error)

    def export_dialog(self) -> None:
        from app.ui.dialogs import ExportDialog

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

        ShortcutsDialog(self.shortcut_rows(), self).exec()

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """``(group, keys, what)`` for every action with a key, then the canvas gestures."""
        groups = {
            "File": ("open", "import", "import_folder", "export", "quit"),
            "Edit": ("undo", "redo", "dismiss", "click", "box", "brush", "eraser", "brush_bigger", "brush_smaller",
                     "split_shot", "merge_shot", "settings"),
            "Pipeline": ("run", "forward", "backward", "both", "pause", "cancel"),
            "View": ("fit", "side", "ab", "next", "prev", "next10", "prev10", "first", "last", "next_shot",
                     "prev_shot"),
            "Help": ("shortcuts",),
        }
        rows: list[tuple[str, str, str]] = []
        listed: set[str] = set()
        for group, names in groups.items():
            for name in names:
                action = self.actions_by_name[name]
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if keys:
                    rows.append((group, keys, action.text().replace("&", "").split("\t")[0]))
                    listed.add(name)
        for name, action in self.actions_by_name.items():  # layers and anything added later
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys and name not in listed:
                rows.append(("Layers" if name.startswith(("layer_", "solo_")) else "Other", keys,
                             action.text().replace("&", "")))
        rows.extend(("Canvas", keys, what) for keys, what in GESTURES)
        return rows

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

    def reimport_media(self, path: Path | None = None) -> None:
        """Rebuild media.h5 from the source in the background (the project is closed meanwhile: the
        rebuild holds the project lock), then open the project again."""
        from app.ingest.reimport import reimport_media
        from app.ui.workers import run_with_progress

        root = Path(path) if path is not None else (self.c.project.root if self.c.project is not None else None)
        if root is None:
            self.statusBar().showMessage("Open a project first.")
            return
        if self.c.project is not None and self.c.project.root.resolve() == root.resolve():
            self.c.close_project()
        def reopen(_kept: object) -> None:
            self.c.open_project(root)

        run_with_progress(
            self, "Re-importing media from the source...",
            lambda progress, cancel: reimport_media(root, progress=progress, cancel=cancel),
            on_done=reopen, on_error=self.show_error,
        )

    @Slot(object, object)
    def _on_read_only_offer(self, path: Path, exc: CelstudioError) -> None:
        if errors.ask_open_read_only(self, exc):
            self.c.open_project(path, read_only=True)

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if not urls:
            return
        path = Path(urls[0].toLocalFile())
        if (path / "project.json").is_file():
            self.c.open_project(path)
        elif path.exists():
            self.import_path(path)
        else:
            self.show_error(CelstudioError(f"{path} does not exist."))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_view_state()
        self.c.close_project()
        super().closeEvent(event)


def free_name(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name-2`` (-3, ...) when that exists already."""
    target, n = parent / name, 2
    while target.exists():
        target = parent / f"{name}-{n}"
        n += 1
    return target
