"""Render the app's main states to ``docs/screenshots/*.png`` (offscreen, from a generated demo).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python -m app.ui.screenshots [OUT_DIR]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from app.ui.main import has_display

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _pump(app: object, seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    assert isinstance(app, QApplication)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def render_all(out: Path = OUT) -> list[Path]:
    """Generate a demo project, run the pipeline, and save one PNG per main state; return the paths."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.demo.project import create_demo_project
    from app.ui.controller import MainController
    from app.ui.dialogs import SettingsDialog
    from app.ui.icons import apply_dark_theme
    from app.ui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_dark_theme(app)
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        create_demo_project(root, width=640, height=360, shots=3, frames_per_shot=12).close()
        c = MainController()
        w = MainWindow(c, QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat))
        w.resize(1440, 880)
        w.show()
        c.open_project(root)
        assert c.runner is not None
        c.run_all().wait(600)
        _pump(app, 1.0)

        def shot(name: str, widget: object = w, wait: float = 0.8) -> None:
            _pump(app, wait)
            path = out / f"{name}.png"
            widget.grab().save(str(path))  # type: ignore[attr-defined]
            saved.append(path)

        c.set_frame(16)
        shot("main")
        # A correction: two clicks on a new object, with the prompt points drawn.
        oid = c.add_object("Prop")
        if oid is not None:
            c.click(420, 200, True)
            c.click(440, 120, False)
            c.last_job.wait(60)
        shot("correction")
        c.set_solo("alpha")
        shot("character_rgba")
        c.set_solo(None)
        for name, on in (("masks", False), ("image", False), ("clean", True), ("effects", True)):
            c.set_layer_visible(name, on)
        shot("clean_plate_effects")
        for name, on in (("masks", True), ("image", True), ("clean", False), ("effects", False)):
            c.set_layer_visible(name, on)
        c.set_compare("side")
        shot("side_by_side")
        c.set_compare("off")
        runner: object = c.runner
        runner.pause()  # type: ignore[attr-defined]
        runner.submit_run(force=True)  # type: ignore[attr-defined]
        _pump(app, 1.5)
        c.jobs_changed.emit()
        shot("jobs", w.docks["jobs"])
        c.cancel()
        runner.resume()  # type: ignore[attr-defined]
        dialog = SettingsDialog(c, w)
        dialog.resize(480, dialog.sizeHint().height())
        dialog.show()
        shot("settings", dialog)
        dialog.close()
        c.close_project()
        w.close()
    return saved


def main() -> int:
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for path in render_all(out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
