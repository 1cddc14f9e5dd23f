"""Entry point of the desktop app: ``celstudio gui [PROJECT]`` calls `run_gui`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

NO_DISPLAY = "no display: run with QT_QPA_PLATFORM=offscreen, or under xvfb-run"


def has_display() -> bool:
    """True if Qt can open windows: a platform was chosen, or an X11/Wayland display is set."""
    if sys.platform in ("win32", "darwin"):
        return True
    return any(os.environ.get(v) for v in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))


def run_gui(project_path: Path | None = None) -> int:
    """Open the main window (with ``project_path`` if given) and run the event loop; return the exit code."""
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from app.ui.controller import MainController
    from app.ui.icons import apply_dark_theme
    from app.ui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Celstudio")
    app.setOrganizationName("celstudio")
    apply_dark_theme(app)
    controller = MainController()
    window = MainWindow(controller)
    window.show()
    if project_path is not None:
        controller.open_project(Path(project_path))
    code = app.exec()
    controller.close_project()
    return int(code)
