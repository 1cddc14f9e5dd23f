"""The main window: menus, toolbar, status bar, the frame view, the timeline and the docks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMenu, QVBoxLayout, QWidget

from app.errors import CelstudioError, ProjectDamaged
from app.ui import errors as dialogs_err
from app.ui.controller import MainController
from app.ui.docks import JobsPanel, LayersPanel, ObjectsPanel
from app.ui.frame_view import FrameView
from app.ui.icons import icon
from app.ui.render import LAYER_LABELS, LAYER_ORDER
from app.ui.review import ReviewPanel
from app.ui.timeline import Timeline
from app.ui.workers import export_available, start_import

MAX_RECENT = 8


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
        self.statusBar().showMessage("Open a project (Ctrl+O) or drop a video or image folder here.")
        controller.status.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        controller.error.connect(self.show_error)
        controller.damaged.connect(self._on_damaged)
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
        a("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit)
        a("undo", "&Undo", c.undo, "Ctrl+Z", "undo")
        a("redo", "&Redo", c.redo, "Ctrl+Shift+Z", "redo")
        a("run", "&Run all stages", c.run_all, "Ctrl+R", "run", "Run the pipeline on every shot")
        a("forward", "Propagate &forward", lambda: c.propagate("forward"), "]", "forward",
          "Propagate the current masks forward through the shot")
        a("backward", "Propagate &backward", lambda: c.propagate("backward"), "[", "backward",
          "Propagate the current masks backward through the shot")
        a("both", "Propagate &both ways", lambda: c.propagate("both"), "P", "both",
          "Propagate the current masks both ways through the shot")
        a("cancel", "&Cancel jobs", c.cancel, "Esc", "cancel", "Cancel running and queued jobs")
        a("click", "Point and box tool", lambda: c.set_tool("click"), "V", "click",
          "Left click adds, right click removes, drag draws a box", checkable=True)
        a("brush", "Brush", lambda: c.set_tool("brush"), "B", "brush", "Paint into the object's mask", checkable=True)
        a("eraser", "Eraser", lambda: c.set_tool("eraser"), "E", "eraser", "Erase from the object's mask",
          checkable=True)
        a("brush_bigger", "Bigger brush", lambda: c.resize_brush(1.25), "Ctrl+]", None, "Grow the brush and eraser")
        a("brush_smaller", "Smaller brush", lambda: c.resize_brush(0.8), "Ctrl+[", None, "Shrink the brush and eraser")
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
        if not export_available():
            self.actions_by_name["export"].setEnabled(False)
            self.actions_by_name["export"].setToolTip("Export: coming")

    def _setup_menus(self) -> None:
        bar = self.menuBar()
        get = self.actions_by_name
        file_menu = bar.addMenu("&File")
        file_menu.addActions([get["open"], get["import"], get["import_folder"]])
        self.recent_menu = QMenu("Recent projects", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(get["export"])
        file_menu.addSeparator()
        file_menu.addAction(get["quit"])
        edit = bar.addMenu("&Edit")
        edit.addActions([get["undo"], get["redo"]])
        edit.addSeparator()
        edit.addActions([get["click"], get["brush"], get["eraser"], get["brush_bigger"], get["brush_smaller"]])
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
        pipeline.addActions([get["run"], get["forward"], get["backward"], get["both"], get["cancel"]])
        pipeline.addSeparator()
        pipeline.addAction(get["models"])
        self._fill_recent()

    def _setup_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        get = self.actions_by_name
        for group in (("open", "import", "export"), ("undo", "redo"), ("click", "brush", "eraser"),
                      ("run", "backward", "both", "forward", "cancel"), ("play", "fit", "side"), ("settings", "models")):
            tb.addActions([get[k] for k in group])
            tb.addSeparator()

    # -- state --------------------------------------------------------------------------------------
    @Slot()
    def _on_project(self) -> None:
        has = self.c.project is not None
        piped = has and self.c.runner is not None
        for name in ("undo", "redo", "click", "brush", "eraser", "fit", "side", "ab", "play"):
            self.actions_by_name[name].setEnabled(has)
        for name in ("run", "forward", "backward", "both", "cancel"):
            self.actions_by_name[name].setEnabled(piped)
        if export_available():
            self.actions_by_name["export"].setEnabled(has)
        title = f"{self.c.project.manifest.name} - Celstudio" if self.c.project else "Celstudio"
        self.setWindowTitle(title)
        if has:
            assert self.c.project is not None
            self._remember(self.c.project.root)
        self._on_tool(self.c.tool)

    @Slot(str)
    def _on_tool(self, tool: str) -> None:
        for name in ("click", "brush", "eraser"):
            self.actions_by_name[name].setChecked(name == tool)

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
    def open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Celstudio project")
        if folder:
            self.c.open_project(Path(folder))

    def import_dialog(self) -> None:
        src, _ = QFileDialog.getOpenFileName(self, "Import a video", "", "Videos (*.mp4 *.mkv *.webm *.mov *.avi)")
        if src:
            self.import_path(Path(src))

    def import_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of images (png, jpg, webp)")
        if folder:
            self.import_path(Path(folder))

    def import_path(self, src: Path, target: Path | None = None) -> None:
        """Import a video or image folder into a new project beside the others, then open it."""
        if target is None:
            from app.paths import projects_dir

            target = projects_dir() / src.stem
            n = 2
            while target.exists():
                target = projects_dir() / f"{src.stem}-{n}"
                n += 1
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

    @Slot(object)
    def show_error(self, exc: BaseException) -> None:
        dialogs_err.show_error(self, exc)

    @Slot(object, object)
    def _on_damaged(self, path: Path, exc: ProjectDamaged) -> None:
        if dialogs_err.ask_recover(self, exc):
            self.c.open_project(path, recover=True)

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
        self.c.close_project()
        super().closeEvent(event)
