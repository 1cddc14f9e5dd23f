"""The main window's files: open, import (asking where), re-import media, recent projects, drag and drop.

A mixin of `MainWindow` (the window is the dialogs' parent and owns the QSettings they remember).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QInputDialog

from app.errors import CelstudioError
from app.sources.source import VIDEO_SUFFIXES
from app.ui.workers import start_import

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMainWindow as _Base
    from PySide6.QtWidgets import QMenu

    from app.ui.controller import MainController
else:
    _Base = object

MAX_RECENT = 20


class FilesMixin(_Base):
    """Where projects come from; every path the user picks is remembered for the next dialog."""

    if TYPE_CHECKING:  # what the window provides
        c: MainController
        settings: QSettings
        recent_menu: QMenu

        def show_error(self, exc: BaseException) -> None: ...

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


def free_name(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name-2`` (-3, ...) when that exists already."""
    target, n = parent / name, 2
    while target.exists():
        target = parent / f"{name}-{n}"
        n += 1
    return target
