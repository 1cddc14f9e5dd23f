"""Settings, Models and Export dialogs, the timeline widget and the layer renderers."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QMessageBox

from app.ui import render
from app.ui.controller import MainController
from app.ui.dialogs import ModelsDialog, SettingsDialog
from app.ui.export_dialog import ExportDialog
from app.ui.window import MainWindow
from models import registry
from models.manager import ModelManager


@pytest.fixture
def opened(qtbot: Any, tmp_path: Path, imported_project: Path) -> Iterator[tuple[MainWindow, MainController]]:
    root = imported_project  # imported from a video file (tests/ui_fixtures.py)
    controller = MainController()  # the real runner, with the weight-free backends
    window = MainWindow(controller, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert controller.open_project(root)
    yield window, controller
    controller.close_project()


def test_settings_dialog_saves_and_restarts_runner(qtbot: Any, opened: tuple[MainWindow, MainController],
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window, c = opened
    created: list[tuple[str, int | None]] = []
    real_create = registry.create_with_fallback

    def recording_create(role: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        created.append((role, kwargs.get("batch_size")))
        return real_create(role, name, *args, **kwargs)

    monkeypatch.setattr(registry, "create_with_fallback", recording_create)
    dialog = SettingsDialog(c, window, manager=ModelManager(tmp_path / "weights"))
    qtbot.addWidget(dialog)
    combo = dialog.combos["clicker"]
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    labels = {str(combo.itemData(i)): (combo.itemText(i), model.item(i).isEnabled()) for i in range(combo.count())}
    assert labels["classical"][1] and not labels["sam"][1]  # no weights: shown, but not selectable
    assert "not installed" in labels["sam"][0]
    old_runner = c.runner
    dialog.batch.setValue(8)
    dialog.device.setCurrentText("cpu")
    dialog.accept()
    assert c.project is not None and c.project.manifest.settings["batch_size"] == 8
    assert c.runner is not None and c.runner is not old_runner
    assert c.runner.settings.batch_size == 8 and c.runner.settings.device == "cpu"  # type: ignore[attr-defined]
    c.runner.backend("clicker")  # type: ignore[attr-defined]
    assert created[-1] == ("clicker", 8)  # the setting reaches the backends the new runner creates


def test_models_dialog_lists_catalog(qtbot: Any, tmp_path: Path) -> None:
    manager = ModelManager(tmp_path / "weights")
    dialog = ModelsDialog(None, manager=manager)
    qtbot.addWidget(dialog)
    names = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}  # type: ignore[union-attr]
    assert names == {row.name for row in manager.list()} and names
    assert dialog.table.item(0, 3).text() == "not installed"  # type: ignore[union-attr]
    dialog.table.selectRow(0)
    assert dialog.selected() == dialog.table.item(0, 0).text()  # type: ignore[union-attr]


def test_export_dialog_writes_dataset(qtbot: Any, opened: tuple[MainWindow, MainController], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    window, c = opened
    assert c.runner is not None
    handle = c.run_all()
    assert handle.wait(120)
    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: errors.append("ERROR " + text))
    opened_urls: list[str] = []

    def fake_open(url: Any) -> bool:
        opened_urls.append(url.toLocalFile())
        return True

    monkeypatch.setattr("app.ui.export_dialog.QDesktopServices.openUrl", fake_open)
    dialog = ExportDialog(c, window)
    qtbot.addWidget(dialog)
    out = tmp_path / "out"
    dialog.out.setText(str(out))
    dialog.format.setCurrentText("layers")
    assert "PNG" in dialog.format_note.text()  # each format says what it is
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.summary_dialog is not None or bool(errors), timeout=60000)
    assert not errors, errors
    summary = dialog.summary_dialog
    assert summary is not None
    assert any(out.rglob("*.png"))
    assert "files for" in summary.lines[0] and "object" in summary.lines[0]
    summary.open_button.click()
    assert opened_urls == [str(out)]
    # The choices come back next time, for this project.
    again = ExportDialog(c, window)
    qtbot.addWidget(again)
    assert again.out.text() == str(out) and again.format.currentText() == "layers"


def test_timeline_scrub_zoom_and_status(qtbot: Any, opened: tuple[MainWindow, MainController]) -> None:
    window, c = opened
    tl = window.timeline
    tl.resize(800, tl.sizeHint().height())
    assert c.frame_count == 12
    qtbot.mousePress(tl, Qt.MouseButton.LeftButton, pos=QPoint(int(tl.x_of(2.5)), 30))
    qtbot.mouseMove(tl, QPoint(int(tl.x_of(7.5)), 30))
    qtbot.mouseRelease(tl, Qt.MouseButton.LeftButton, pos=QPoint(int(tl.x_of(7.5)), 30))
    assert c.frame == 7
    tl.zoom(2.0)
    assert tl.view_len == pytest.approx(10.0)  # clamped: never fewer than 10 frames
    qtbot.waitUntil(lambda: set(c.stage_status()) >= {"segment", "matte"}, timeout=10000)
    assert all(len(v) == c.frame_count for v in c.stage_status().values())
    image = tl.grab().toImage()
    assert not image.isNull() and image.width() == tl.width()


def test_render_masks_fill_and_outline() -> None:
    labels = np.zeros((20, 20), np.uint8)
    labels[5:15, 5:15] = 3
    rgba = render.render_masks(labels, {3: (200, 100, 50)})
    assert rgba[0, 0, 3] == 0  # background stays clear
    assert rgba[10, 10, 3] == render.MASK_FILL_ALPHA  # semi-transparent fill
    assert tuple(rgba[5, 10]) == (200, 100, 50, 255)  # opaque outline on the edge
    alpha = np.full((4, 4), 128, np.uint8)
    cut = render.render_cutout(np.full((4, 4, 3), 255, np.uint8), alpha)
    assert cut[0, 0, 3] == 128 and cut[0, 0, 0] == 128  # premultiplied
    back = render.qimage_to_array(render.to_qimage(rgba))
    assert tuple(back[5, 10]) == (200, 100, 50, 255)


def test_import_folder_opens_project_and_remembers_it(qtbot: Any, tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(4):
        img = np.full((48, 64, 3), 40 * i, np.uint8)
        cv2.rectangle(img, (5 + 5 * i, 10), (30 + 5 * i, 40), (255, 120, 0), -1)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    controller = MainController(runner_factory=lambda p: None)
    window = MainWindow(controller, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.import_path(folder, tmp_path / "imported")  # what a drop of the folder does
    qtbot.waitUntil(lambda: controller.project is not None, timeout=60000)
    assert controller.frame_count == 4
    assert window.recent()[0] == str(tmp_path / "imported")
    assert [a.text() for a in window.recent_menu.actions()] == [str(tmp_path / "imported")]
    assert not window.actions_by_name["run"].isEnabled()  # no pipeline: its actions are off
    controller.close_project()
