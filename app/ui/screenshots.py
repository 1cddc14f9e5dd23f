"""Render the app's main states to ``docs/screenshots/*.png`` (offscreen, from a generated demo).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python -m app.ui.screenshots [OUT_DIR]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    from app.export import export_project
    from app.ui.controller import MainController
    from app.ui.dialogs import ModelsDialog, SettingsDialog, ShortcutsDialog
    from app.ui.export_dialog import ExportSummary
    from app.ui.icons import apply_dark_theme
    from app.ui.menus import shortcut_rows
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
        settings = QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat)
        settings.setValue("hint_seen", True)  # shown once, on purpose, in main.png
        w = MainWindow(c, settings)
        c.auto_run = False  # the run below is started (and timed) by hand
        w.resize(1440, 880)
        w.show()
        c.open_project(root)
        assert c.runner is not None

        def shot(name: str, widget: object = w, wait: float = 0.8) -> None:
            _pump(app, wait)
            settled = time.monotonic() + 15  # every shown layer of the frame drawn, no "Building ..." label
            while (w.view.building_layers() or w.view.building_label.isVisible()) and time.monotonic() < settled:
                _pump(app, 0.05)
            path = out / f"{name}.png"
            widget.grab().save(str(path))  # type: ignore[attr-defined]
            saved.append(path)

        # A run in progress: the jobs row while frames are being computed.
        c.set_frame(16)
        runner: Any = c.runner
        handle = c.run_all()
        end = time.monotonic() + 120
        while time.monotonic() < end and not any(j.done >= 3 for j in runner.jobs()):
            _pump(app, 0.05)
        runner.pause()  # hold the picture still while it is taken
        c.jobs_changed.emit()
        shot("run_in_progress", wait=0.6)
        shot("jobs", w.docks["jobs"], wait=0.1)
        runner.resume()
        handle.wait(600)
        runner.wait_idle(60)
        _pump(app, 1.0)
        w.view.show_hint(True)
        shot("main")
        w.view.show_hint(False)
        # The timeline with its legend, hovering a status strip.
        shot("timeline_legend", w.timeline)
        # A correction: with no object active, a click on a character selects it (outlined wider,
        # listed in bold); the next clicks refine it, their points drawn.
        c.set_object(None)
        c.click(240, 200, True)  # selects the character under it
        c.click(240, 200, True)
        c.click(300, 330, False)
        if c.last_job is not None:
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
        sheet = ShortcutsDialog(shortcut_rows(w.actions_by_name), w)
        sheet.show()
        shot("shortcut_sheet", sheet)
        sheet.close()
        dialog = SettingsDialog(c, w)
        dialog.resize(560, dialog.sizeHint().height())
        dialog.show()
        shot("settings", dialog)
        dialog.close()
        models = ModelsDialog(w)
        models.show()
        shot("models", models)
        models.close()
        export_dir = Path(tmp) / "export"
        options: dict[str, Any] = {"format": "layers", "corrected_only": False, "min_confidence": 0.0, "dedupe": 0, "max_per_shot": 0}
        assert c.project is not None
        summary = export_project(c.project, export_dir, **options)
        done = ExportSummary(summary, export_dir, len(c.project.manifest.objects), options, w)
        done.show()
        shot("export_summary", done)
        done.close()
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
