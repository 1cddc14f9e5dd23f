"""The frame view's tools are small classes, one per tool name the controller knows."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from ui_fixtures import DiskClicker

from app.pipeline.runner import PipelineRunner
from app.store import Project
from app.ui.controller import MainController, Tool
from app.ui.tools import TOOLS, BrushTool, Interaction
from app.ui.window import MainWindow


def test_every_controller_tool_has_one_interaction_class() -> None:
    assert set(TOOLS) == set(get_args(Tool))
    assert all(issubclass(cls, Interaction) and cls.name == name for name, cls in TOOLS.items())


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, imported_project: Path) -> Iterator[MainWindow]:
    def factory(project: Project) -> PipelineRunner:
        return PipelineRunner(project, backends={"clicker": DiskClicker()}).start()

    c = MainController(runner_factory=factory)
    c.auto_run = False
    w = MainWindow(c, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1000, 640)
    w.show()
    assert c.open_project(imported_project)
    qtbot.waitUntil(lambda: w.view.shown is not None, timeout=10000)
    yield w
    c.close_project()


def _drag(qtbot: Any, w: MainWindow, a: tuple[float, float], b: tuple[float, float],
          mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    vp = w.view.viewport()
    pa, pb = (w.view.mapFromScene(QPointF(*p)) for p in (a, b))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, mod, pa)
    qtbot.mouseMove(vp, (pa + pb) / 2)
    qtbot.mouseMove(vp, pb)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, mod, pb)


def test_shift_drag_with_the_point_tool_is_a_box_and_the_tool_that_saw_the_press_gets_the_release(
        qtbot: Any, window: MainWindow) -> None:
    c = window.c
    c.add_object("Prop")
    _drag(qtbot, window, (20, 20), (60, 50), Qt.KeyboardModifier.ShiftModifier)
    assert c.box is not None and c.box[0] == pytest.approx(20, abs=1) and c.box[3] == pytest.approx(50, abs=1)
    assert c.points == [] and c.last_job.wait(30)
    # A brush stroke begun with the brush ends as a stroke even if the eraser is picked mid-drag.
    window.actions_by_name["brush"].trigger()
    vp = window.view.viewport()
    start, end = (window.view.mapFromScene(QPointF(*p)) for p in ((100, 70), (130, 70)))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(vp, end)
    c.set_tool("eraser")
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end + QPoint(0, 0))
    assert c.last_job.wait(30)
    labels = c.project.masks_or_empty(0)  # type: ignore[union-attr]
    assert labels[70, 115] == c.object_id
    brush = window.view.tools["brush"]
    assert isinstance(brush, BrushTool) and not brush.cursor_item.isVisible()  # the eraser's circle shows now
