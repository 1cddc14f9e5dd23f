"""Issue #13, one test (or more) per numbered point, driving the app through its window and controller
with the real runner (a deterministic disk clicker stands in for the click model)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from clips import write_mp4
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from app.demo.project import create_demo_project
from app.pipeline.runner import PipelineRunner
from app.store import MaskEdit, Project
from app.ui import render
from app.ui.controller import MainController
from app.ui.files import MAX_RECENT
from app.ui.jobtext import describe
from app.ui.timeline import frame_counter
from app.ui.timeline_paint import LABEL_W, MARK_H, RULER_H, USER_MARK
from app.ui.tools import BrushTool
from app.ui.window import MainWindow
from models.base import Prompt

W, H = 160, 96


class DiskClicker:
    """A disk around each positive point, minus negatives; remembers every prompt it was sent."""

    name = "disk"
    role = "clicker"

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def load(self, device: str = "cpu") -> None:
        pass

    def release(self) -> None:
        pass

    def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
        self.prompts.append(prompt)
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        mask = prior.copy() if prior is not None else np.zeros(image.shape[:2], bool)
        for x, y, positive in prompt.points:
            disk = (xx - x) ** 2 + (yy - y) ** 2 <= 8**2
            mask = mask | disk if positive else mask & ~disk
        if prompt.box is not None and not prompt.points:
            mask = np.zeros(image.shape[:2], bool)  # what a slip of a box gave: (almost) nothing
        return mask


@pytest.fixture
def project_dir(imported_project: Path) -> Path:
    """A project imported from a video file (tests/ui_fixtures.py): 12 frames, 160x96, 2 shots."""
    return imported_project


Opener = Callable[..., tuple[MainWindow, MainController]]


@pytest.fixture
def opener(qtbot: Any, tmp_path: Path) -> Iterator[Opener]:
    """Open a project in a fresh window; ``auto_run`` and ``paused`` as asked."""
    made: list[MainController] = []
    clicker = DiskClicker()

    def open_(root: Path, auto_run: bool = False, paused: bool = False) -> tuple[MainWindow, MainController]:
        def factory(project: Project) -> PipelineRunner:
            runner = PipelineRunner(project, backends={"clicker": clicker}).start()
            if paused:
                runner.pause()
            return runner

        controller = MainController(runner_factory=factory)
        controller.clicker = clicker  # type: ignore[attr-defined]
        window = MainWindow(controller, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
        controller.auto_run = auto_run
        qtbot.addWidget(window)
        window.resize(1100, 700)
        window.show()
        assert controller.open_project(root)
        qtbot.waitUntil(lambda: window.view.shown is not None, timeout=10000)
        made.append(controller)
        return window, controller

    yield open_
    for c in made:
        c.close_project()


def _vp(window: MainWindow, x: float, y: float) -> QPoint:
    return window.view.mapFromScene(QPointF(x, y))


def _give_pixels(qtbot: Any, c: MainController, name: str, x: int, y: int) -> int:
    oid = c.add_object(name)
    assert oid is not None
    c.set_object(oid)
    job = c.brush([(x, y)], radius=6)
    assert job is not None and job.wait(30)
    assert c.runner is not None and c.runner.wait_idle(60)  # type: ignore[attr-defined]
    return oid


# -- 1. box only as its own tool; a slip never empties a mask ------------------------------------------
def test_1_jitter_with_the_point_tool_is_a_click_never_a_box(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    window, c = opener(project_dir)
    oid = _give_pixels(qtbot, c, "Luffy", 60, 40)
    vp = window.view.viewport()
    press = _vp(window, 60, 40)
    for jitter in (QPoint(4, 2), QPoint(10, 7), QPoint(40, 25)):  # a shaky pen, then a real drag
        qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=press)
        qtbot.mouseMove(vp, press + jitter)
        qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=press + jitter)
        assert c.box is None and c.points and c.points[-1][:2] == pytest.approx(window.view.scene_xy(QPointF(press)))
        assert c.last_job.wait(30)
    assert (c.project.masks_or_empty(0) == oid).sum() > 100  # type: ignore[union-attr]


def test_1_box_tool_ignores_a_tiny_drag_and_an_emptying_result_is_refused(
        qtbot: Any, opener: Opener, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: errors.append(text))
    window, c = opener(project_dir)
    oid = _give_pixels(qtbot, c, "Luffy", 60, 40)
    before = c.project.masks_or_empty(0).copy()  # type: ignore[union-attr]
    window.actions_by_name["box"].trigger()
    vp = window.view.viewport()
    start = _vp(window, 60, 40)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(vp, start + QPoint(6, 4))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=start + QPoint(6, 4))
    assert c.box is None  # under the threshold: no box at all
    # A real box whose result would empty Luffy: refused with a message, nothing changes.
    end = _vp(window, 80, 60)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(vp, end)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end)
    assert c.box is not None and c.last_job.wait(30)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert "not applied" in errors[0]
    assert np.array_equal(c.project.masks_or_empty(0), before)  # type: ignore[union-attr]
    assert (before == oid).any()


# -- 2. the active object is visible; a first click selects or starts one --------------------------------
def test_2_first_click_selects_the_object_under_it_and_background_starts_a_new_one(
        qtbot: Any, opener: Opener, project_dir: Path) -> None:
    with Project.open(project_dir) as p:  # the pipeline found an object the list does not name (id 9)
        labels = p.masks_or_empty(0)
        after = labels.copy()
        after[30:60, 40:80] = 9
        p.commit("seed", [MaskEdit(0, labels, after, 9, "user")])
    window, c = opener(project_dir)
    assert c.object_id is None  # nothing active on open
    before = c.project.masks_or_empty(0).copy()  # type: ignore[union-attr]
    vp = window.view.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_vp(window, 60, 45))
    assert c.object_id == 9 and c.project.object(9) is not None  # type: ignore[union-attr]
    assert c.last_job is None and np.array_equal(c.project.masks_or_empty(0), before)  # type: ignore[union-attr]
    item = window.objects_panel.list.currentItem()
    assert item is not None and item.data(Qt.ItemDataRole.UserRole) == 9 and item.font().bold()
    assert c.loader is not None and c.loader.active == 9  # drawn stronger on the canvas
    # Esc twice: the prompt (none) then the selection; a click on background starts a new object.
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert c.object_id is None
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_vp(window, 140, 10))
    new = c.object_id
    assert new is not None and new != 9 and c.last_job.wait(30)
    labels = c.project.masks_or_empty(0)  # type: ignore[union-attr]
    assert labels[10, 140] == new and (labels == 9).sum() == (before == 9).sum()  # nothing merged into 9


def test_2_active_object_is_drawn_with_a_wider_outline() -> None:
    labels = np.zeros((30, 30), np.uint8)
    labels[5:25, 5:14] = 1
    labels[5:25, 16:25] = 2
    colors = {1: (200, 60, 60), 2: (60, 200, 60)}
    plain = render.render_masks(labels, colors)
    active = render.render_masks(labels, colors, active=2)
    assert active[15, 20, 3] > plain[15, 20, 3] > active[15, 10, 3]  # active fill stronger, others fainter
    assert tuple(active[15, 17]) == (*render.readable_color((60, 200, 60)), 255)  # second outline pixel


# -- 3. prompts belong to one object on one frame --------------------------------------------------------
def test_3_prompts_are_cleared_on_undo_and_object_change(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    window, c = opener(project_dir)
    clicker: DiskClicker = c.clicker  # type: ignore[attr-defined]
    a = c.add_object("A")
    c.click(30, 30)
    c.click(40, 30)
    assert c.last_job.wait(30) and len(c.points) == 2 and len(window.view._marks) == 2
    c.undo()
    assert c.points == [] and c.box is None and window.view._marks == []
    assert c.runner is not None and c.runner.wait_idle(30)  # type: ignore[attr-defined]
    c.click(50, 50)
    assert c.last_job.wait(30)
    assert len(clicker.prompts[-1].points) == 1  # the old points were not sent again
    b = c.add_object("B")
    assert b != a
    c.set_object(b)
    assert c.points == [] and window.view._marks == []
    c.click(100, 60)
    assert c.last_job.wait(30) and len(clicker.prompts[-1].points) == 1


# -- 5. brush circle cursor; size keys never launch a propagation ----------------------------------------
def test_5_brush_cursor_is_a_circle_of_the_brush_size(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    window, c = opener(project_dir)
    window.actions_by_name["brush"].trigger()
    qtbot.mouseMove(window.view.viewport(), _vp(window, 50, 50))
    brush = window.view.tools["brush"]
    assert isinstance(brush, BrushTool)
    cursor = brush.cursor_item
    assert cursor.isVisible()
    assert cursor.rect().width() == pytest.approx(2 * c.brush_radius)
    assert cursor.rect().center().x() == pytest.approx(50, abs=1)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_BracketRight)
    qtbot.mouseMove(window.view.viewport(), _vp(window, 52, 50))
    assert cursor.rect().width() == pytest.approx(2 * c.brush_radius) and c.brush_radius > 12
    assert not [j for j in c.runner.jobs() if j.kind == "propagate"]  # type: ignore[union-attr]
    shortcut = window.actions_by_name["forward"].shortcut().toString()
    assert shortcut.startswith("Ctrl+")


# -- 6. stale work resumes itself; the status bar counts it ----------------------------------------------
def _run_then_make_stale(root: Path) -> None:
    with Project.open(root) as p:
        runner = PipelineRunner(p).start()
        assert runner.submit_run().wait(300)
        assert runner.wait_idle(60)
        runner.stop()
        labels = p.masks_or_empty(2)
        after = labels.copy()
        after[10:20, 10:20] = 1
        p.commit("brush", [MaskEdit(2, labels, after, 1, "user")])  # a correction whose re-run was killed


def test_6_stale_work_resumes_on_open_unless_paused(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    _run_then_make_stale(project_dir)
    window, c = opener(project_dir, paused=True)
    qtbot.waitUntil(lambda: "stale" in window.work_label.text(), timeout=20000)
    assert "1 frame stale" in window.work_label.text() and "paused" in window.work_label.text()
    assert not c.runner.jobs()  # type: ignore[union-attr]  # paused: nothing started by itself
    from app.ui.export_dialog import ExportDialog

    export = ExportDialog(c, window)
    qtbot.addWidget(export)
    assert export.stale_warning.isVisibleTo(export) and "1 frame stale" in export.stale_warning.text()
    c.set_paused(False)
    qtbot.waitUntil(lambda: c.work_left.get("stale", 1) == 0 and not c.runner.jobs(), timeout=120000)  # type: ignore[union-attr]
    assert "stale" not in window.work_label.text()


def test_6_stale_work_resumes_when_opened_without_pausing(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    _run_then_make_stale(project_dir)
    _window, c = opener(project_dir)  # auto_run off: stale work resumes anyway, it was run before
    qtbot.waitUntil(lambda: any(j.kind == "run" for j in c.runner.jobs()) or c.work_left.get("stale") == 0,  # type: ignore[union-attr]
                    timeout=20000)
    qtbot.waitUntil(lambda: c.work_left.get("stale", 1) == 0, timeout=120000)


def test_6_a_cancelled_propagation_resumes_what_it_left_stale(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    _run_then_make_stale(project_dir)
    _window, c = opener(project_dir, paused=True)
    qtbot.waitUntil(lambda: c.work_left.get("stale") == 1, timeout=20000)
    runner: Any = c.runner
    job = c.propagate("forward")
    c.cancel(job.job_id)  # the user cancels their own propagation
    runner.resume()  # not via the app's pause button: the app still thinks nothing is paused
    assert job.wait(30)
    qtbot.waitUntil(lambda: any(j.kind == "run" for j in runner.jobs()) or c.work_left.get("stale") == 0,
                    timeout=20000)


# -- 7. Esc never cancels jobs; cancel all asks and says so ----------------------------------------------
def test_7_esc_does_not_cancel_jobs_and_cancel_all_asks(qtbot: Any, opener: Opener, project_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _run_then_make_stale(project_dir)  # so that there is stale work a resume could pick up
    window, c = opener(project_dir, paused=True)
    qtbot.waitUntil(lambda: c.work_left.get("stale") == 1, timeout=20000)
    handle = c.run_all()
    c.add_object("A")
    c.points = [(10.0, 10.0, True)]
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert c.points == []  # Esc dismissed the prompt...
    assert [j.job_id for j in c.runner.jobs() if not j.cancelled] == [handle.job_id]  # type: ignore[union-attr]
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    window.actions_by_name["cancel"].trigger()  # declined
    assert not handle.wait(0.3)
    window.actions_by_name["cancel"].trigger()  # accepted
    runner: Any = c.runner
    runner.resume()  # (the runner's own pause held the job for this test; the app is not paused)
    assert handle.wait(30)
    qtbot.waitUntil(lambda: any("cancelled" in r.detail.text() for r in window.jobs_panel.visible_rows()), timeout=5000)
    # Cancel all stops an edit too, and nothing resumes by itself afterwards (a single cancelled
    # edit would resume the stale work, see test_6).
    runner.pause()
    resumed_before = c.resume_job
    edit = c.propagate("forward")
    qtbot.waitUntil(lambda: any(j.kind == "propagate" and j.state == "running" for j in runner.jobs()), timeout=10000)
    window.actions_by_name["cancel"].trigger()
    runner.resume()
    assert edit.wait(30)
    qtbot.wait(800)
    assert c.resume_job is resumed_before  # no run was started by itself


# -- 8. runs start by themselves; a job row appears at once ----------------------------------------------
def test_8_demo_opens_running_with_a_row_at_once(qtbot: Any, opener: Opener, tmp_path: Path) -> None:
    create_demo_project(tmp_path / "demo", width=W, height=H, shots=2, frames_per_shot=6).close()
    window, c = opener(tmp_path / "demo", auto_run=True)
    qtbot.waitUntil(lambda: bool(window.jobs_panel.visible_rows()), timeout=10000)
    row = window.jobs_panel.visible_rows()[0]
    assert "Run all stages" in row.title.text() and row.detail.text()
    qtbot.waitUntil(lambda: c.work_left.get("missing", 1) == 0 and not c.runner.jobs(), timeout=120000)  # type: ignore[union-attr]


def test_8_importing_a_video_starts_the_pipeline(qtbot: Any, tmp_path: Path) -> None:
    frames = []
    for i in range(10):
        img = np.full((72, 128, 3), 30, np.uint8)
        img[20:50, 10 + 5 * i : 40 + 5 * i] = (250, 120, 20)
        frames.append(img)
    src = write_mp4(tmp_path / "clip.mp4", frames, fps=12.0)
    controller = MainController()
    window = MainWindow(controller, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert controller.auto_run  # the default
    window.import_path(src, tmp_path / "clip")
    qtbot.waitUntil(lambda: controller.project is not None, timeout=60000)
    assert controller.frame_count == 10
    qtbot.waitUntil(lambda: bool(window.jobs_panel.visible_rows()), timeout=20000)
    assert "Run all stages" in window.jobs_panel.visible_rows()[0].title.text()
    qtbot.waitUntil(lambda: controller.work_left.get("missing", 1) == 0 and not controller.runner.jobs(),  # type: ignore[union-attr]
                    timeout=240000)
    # A correction on the imported footage with the real weight-free click model: the first click
    # picks (or starts) the object, the next one edits it, and the orange box becomes that object's.
    controller.set_frame(3)
    x, y = 40, 35  # inside the orange rectangle on frame 3
    controller.click(x, y)
    if controller.last_job is None:  # it selected an object the pipeline had found
        controller.click(x, y)
    assert controller.last_job is not None and controller.last_job.wait(120)
    labels = controller.project.masks_or_empty(3)  # type: ignore[union-attr]
    assert labels[y, x] == controller.object_id and (labels == controller.object_id).sum() > 200
    controller.close_project()


# -- 10. readable progress text ---------------------------------------------------------------------------
def test_10_job_text_reads_whole_at_any_width(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    text = describe("propagate", 4, "running", 24, 86, 1.24, 443, "propagate")
    assert text.line() == ("Propagation #4: propagate (tracking objects), 24 of 86 frames, 1.2 frames/s, "
                           "about 7 min left")
    assert describe("run", 1, "running", 0, 576).detail.startswith("starting: loading models")
    window, c = opener(project_dir, paused=True)
    c.run_all()
    qtbot.waitUntil(lambda: bool(window.jobs_panel.visible_rows()), timeout=10000)
    window.docks["jobs"].setFloating(True)
    window.docks["jobs"].resize(230, 300)
    row = window.jobs_panel.visible_rows()[0]
    assert row.detail.wordWrap() and row.detail.minimumSizeHint().width() < 220


# -- 11. colours, outlines, checkerboard, heat map -------------------------------------------------------
def test_11_distinct_readable_colours_heat_map_and_checkerboard(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    labels = np.zeros((40, 40), np.uint8)
    labels[5:15, 5:15], labels[5:15, 25:35], labels[25:35, 5:15] = 5, 9, 3
    rgba = render.render_masks(labels, {3: (0, 0, 128)})  # 5 and 9 are not in the list; 3 is navy
    fill = {oid: tuple(rgba[y, x]) for oid, (y, x) in {5: (10, 10), 9: (10, 30), 3: (30, 10)}.items()}
    assert len(set(fill.values())) == 3  # every id its own colour, no shared grey
    r, g, b = render.readable_color((0, 0, 128))
    assert 0.299 * r + 0.587 * g + 0.114 * b >= 119
    assert tuple(rgba[4, 10]) == (0, 0, 0, 200) or tuple(rgba[3, 10]) == (0, 0, 0, 200)  # dark rim outside
    heat = render.render_heat(np.array([[0, 40, 255]], np.uint8))
    assert heat[0, 0, 3] == 0 and heat[0, 1, 3] >= 110 and heat[0, 2, :3].max() > 100  # faint effects show
    window, c = opener(project_dir)
    assert not window.view.stack.checker.isVisible()  # the frame is opaque
    c.set_solo("alpha")
    assert window.view.stack.checker.isVisible()  # RGBA alone: over a checkerboard
    c.set_solo("effects")
    assert window.view.stack.checker.brush().style() == Qt.BrushStyle.SolidPattern  # light alone: on black
    c.set_solo(None)
    assert window.view.stack.checker.brush().style() == Qt.BrushStyle.TexturePattern


# -- 12. timeline legend, tooltips, markers off the ruler, A/B labels ------------------------------------
def test_12_timeline_tooltips_legend_and_ab_labels(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    window, c = opener(project_dir)
    _give_pixels(qtbot, c, "A", 30, 30)
    tl = window.timeline
    tl.resize(900, tl.sizeHint().height())
    qtbot.waitUntil(lambda: bool(c.stage_status()) and c.corrected.get(0) == "user", timeout=10000)
    y_strip = RULER_H + MARK_H + 40 + 2
    tip = tl.tooltip_at(tl.x_of(0.5), y_strip)
    assert "Frame 1 of 12" in tip and "Stage segment" in tip and "Backend classical" in tip and "version" in tip
    assert "corrected by you" in tl.tooltip_at(tl.x_of(0.5), RULER_H + 3)
    assert tl.row_at(tl.height() - 4) == "legend"
    image = render.qimage_to_array(tl.grab().toImage())
    ruler = image[:RULER_H, LABEL_W:, :3].reshape(-1, 3)
    mark = np.array([USER_MARK.red(), USER_MARK.green(), USER_MARK.blue()])
    assert not (np.abs(ruler.astype(int) - mark).sum(axis=1) < 20).any()  # markers never cover the ruler
    marks = image[RULER_H : RULER_H + MARK_H, LABEL_W:, :3].reshape(-1, 3)
    assert (np.abs(marks.astype(int) - mark).sum(axis=1) < 20).any()
    legend = image[-16:, :, :3]
    assert len(np.unique(legend.reshape(-1, 3), axis=0)) > 8  # swatches and words are drawn
    c.flip_ab()
    assert window.view.ab_label.isVisible() and window.view.ab_label.text().startswith("B: clean plate")
    c.flip_ab()
    assert window.view.ab_label.text().startswith("A: frame")
    c.set_compare("side")
    assert window.view.stack.main_label.text() == "A: frame"
    assert window.view.stack.side_label.text().startswith("B: clean plate")  # then how much of it is invented


# -- 13. help: shortcut sheet and a first-run hint ------------------------------------------------------
def test_13_shortcut_sheet_lists_every_key_and_hint_shows_once(qtbot: Any, opener: Opener, project_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from app.ui.dialogs import ShortcutsDialog

    window, c = opener(project_dir)
    qtbot.waitUntil(lambda: window.view.hint.isVisible(), timeout=3000)  # the first open shows the hint
    shown: list[ShortcutsDialog] = []

    def fake_exec(self: ShortcutsDialog) -> int:
        shown.append(self)
        return 0

    monkeypatch.setattr(ShortcutsDialog, "exec", fake_exec)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F1)
    assert shown
    table = shown[0].table
    keys = {table.item(r, 1).text() for r in range(table.rowCount())}  # type: ignore[union-attr]
    for action in window.actions_by_name.values():
        if not action.shortcut().isEmpty():
            assert action.shortcut().toString() in keys
    whats = " ".join(table.item(r, 2).text() for r in range(table.rowCount()))  # type: ignore[union-attr]
    assert "Right click" in keys and "brush" in whats.lower()
    assert "Help" in [m.title().replace("&", "") for m in window.menuBar().findChildren(type(window.recent_menu))]
    c.close_project()
    window2, _c2 = opener(project_dir)
    qtbot.wait(100)
    assert not window2.view.hint.isVisible()  # only the first time


# -- 14. ask where to import, remember places, 20 recent projects ----------------------------------------
def test_14_import_asks_where_and_remembers(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64, 3), 60 * i, np.uint8))
    home = tmp_path / "work"
    home.mkdir()
    asked: list[str] = []

    def pick(parent: Any, caption: str, start: str = "", *a: Any) -> str:
        asked.append(start)
        return str(home)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", pick)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("My shots", True))
    controller = MainController(runner_factory=lambda p: None)
    window = MainWindow(controller, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.import_path(folder)
    qtbot.waitUntil(lambda: controller.project is not None, timeout=60000)
    assert controller.project.root == home / "My shots"  # type: ignore[union-attr]
    assert not (Path.cwd() / "projects" / "shots").exists() or asked
    controller.close_project()
    window.import_path(folder)  # the second time starts where the first went, and never overwrites
    qtbot.waitUntil(lambda: controller.project is not None, timeout=60000)
    assert asked[-1] == str(home) and controller.project.root == home / "My shots-2"  # type: ignore[union-attr]
    controller.close_project()
    for i in range(25):
        window._remember(tmp_path / f"p{i}")
    assert len(window.recent()) == MAX_RECENT == 20


# -- 16. plain-language roles, model descriptions and sizes, dialogs linked --------------------------------
def test_16_models_and_settings_speak_plainly(qtbot: Any, opener: Opener, project_dir: Path, tmp_path: Path) -> None:
    from app.ui.dialogs import ModelsDialog, SettingsDialog
    from models.manager import ModelManager

    window, c = opener(project_dir)
    manager = ModelManager(tmp_path / "weights")
    settings = SettingsDialog(c, window, manager=manager)
    qtbot.addWidget(settings)
    assert settings.models_button.text() == "Models..."
    from PySide6.QtWidgets import QLabel

    words = " ".join(w.text() for w in settings.findChildren(QLabel))
    assert "Cut out characters" in words and "Click corrections" in words and "matter" not in words
    models = ModelsDialog(window, manager=manager)
    qtbot.addWidget(models)
    rows = {models.table.item(r, 0).text(): [models.table.item(r, k).text() for k in range(7)]  # type: ignore[union-attr]
            for r in range(models.table.rowCount())}
    assert rows["animeface-cascade"][2].endswith("241 KiB") and rows["animeface-cascade"][1] == "Find objects"
    assert all(row[4] and row[5] for row in rows.values())  # a description and an improvement each
    assert models.settings_button.isVisibleTo(models)


# -- 17. frame 1 of N; the view comes back as it was ------------------------------------------------------
def test_17_frame_counter_and_view_state_restored(qtbot: Any, opener: Opener, project_dir: Path) -> None:
    assert frame_counter(0, 181) == "frame 1 of 181" and frame_counter(180, 181) == "frame 181 of 181"
    window, c = opener(project_dir)
    c.set_frame(7)
    c.set_layer_visible("clean", True)
    c.set_layer_opacity("masks", 0.4)
    window.view.set_zoom(window.view.transform().m11() * 2, 80, 48)
    zoom = window.view.transform().m11()
    window.close()
    assert c.project is None
    window2, c2 = opener(project_dir)
    assert c2.frame == 7 and c2.layers["clean"].visible and c2.layers["masks"].opacity == pytest.approx(0.4)
    assert window2.view.transform().m11() == pytest.approx(zoom)
    qtbot.waitUntil(lambda: window2.view.shown is not None and window2.view.shown.frame == 7, timeout=5000)
