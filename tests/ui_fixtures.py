"""Shared fixtures of the UI tests: a project imported from a real video file, and a click model.

The app's tests start where a user starts: a video file (a generated anime-style clip with two hard
cuts' worth of distinct shots, encoded to H.264) imported through `app.ingest`, not a demo project
written straight into the store. The import runs once per session; each test gets its own copy.
`tests/conftest.py` re-exports the fixtures.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from clickers import DiskClicker as DiskClicker  # the shared click stand-in, imported from here by the UI tests
from clips import write_mp4

if TYPE_CHECKING:
    from app.ui.controller import MainController
    from app.ui.window import MainWindow

CLIP_W, CLIP_H = 160, 96
CLIP_SHOTS, CLIP_FRAMES_PER_SHOT = 2, 6


def anime_clip(shots: int = CLIP_SHOTS, frames_per_shot: int = CLIP_FRAMES_PER_SHOT,
               size: tuple[int, int] = (CLIP_W, CLIP_H)) -> list[np.ndarray]:
    """Flat-coloured shots, each a distinct background with two outlined figures that move every
    frame (so no frame is a held drawing and every cut is a hard one)."""
    w, h = size
    yy, xx = np.mgrid[:h, :w]
    backgrounds = [(235, 205, 150), (40, 70, 140), (90, 160, 90), (180, 90, 120)]
    figures = [(250, 120, 20), (230, 230, 240), (200, 40, 60), (30, 30, 30)]
    frames = []
    for s in range(shots):
        for i in range(frames_per_shot):
            img = np.empty((h, w, 3), np.uint8)
            img[:] = backgrounds[s % len(backgrounds)]
            img[yy > h * 3 // 4] = np.array(backgrounds[s % len(backgrounds)]) * 3 // 4  # a floor
            for k in range(2):
                cx, cy = (w // 4 + 2 * i, 3 * w // 4 - i)[k], h // 2 + (k * 6 - 3)
                rx, ry = w // 10 + k * 2, h // 4
                d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
                img[d <= 1.2] = (20, 20, 25)  # the line art around each figure
                img[d <= 1.0] = figures[(2 * s + k) % len(figures)]
            frames.append(img)
    return frames


@pytest.fixture(scope="session")
def imported_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project imported once per session from an mp4 of `anime_clip` (left closed)."""
    pytest.importorskip("av")
    from app.ingest.importer import import_source

    folder = tmp_path_factory.mktemp("imported")
    src = write_mp4(folder / "clip.mp4", anime_clip(), fps=12.0)
    import_source(src, folder / "clip", name="clip").close()
    return folder / "clip"


@pytest.fixture
def imported_project(imported_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the imported project for one test (12 frames, 160x96, 2 shots of 6)."""
    root = tmp_path / "clip"
    shutil.copytree(imported_template, root)
    return root


def answer_message_boxes(monkeypatch: pytest.MonkeyPatch, answer: dict[str, str]) -> list[str]:
    """Stand in for the user at every QMessageBox the app opens with ``exec()``: each box's "title: text" is
    appended to the list returned, and the button whose label holds ``answer["button"]`` is the one clicked
    (the test changes ``answer`` between steps)."""
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def exec_(box: QMessageBox) -> int:
        asked.append(f"{box.windowTitle()}: {box.text()}")
        chosen = next((b for b in box.buttons() if answer["button"] in b.text()), None)
        monkeypatch.setattr(box, "clickedButton", lambda: chosen)
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def open_window(qtbot: Any, tmp_path: Path, root: Path) -> tuple[MainWindow, MainController]:
    """The app's window on the project at ``root``, shown, with no automatic first run."""
    from PySide6.QtCore import QSettings

    from app.pipeline.runner import PipelineRunner
    from app.ui.controller import MainController
    from app.ui.window import MainWindow

    controller = MainController(runner_factory=lambda project: PipelineRunner(project).start())
    window = MainWindow(controller, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    # These tests drive their own edits. With the first run on (the window's default), it propagated shot 0
    # afresh while they edited (frame 1 one full-frame object, 3 runs in 6 once a multi-frame edit's re-run
    # became batch work that serves the next edit between its frames).
    controller.auto_run = False
    qtbot.addWidget(window)
    window.show()
    assert controller.open_project(root)
    return window, controller
