"""The review queue ranks a deliberately broken shot (a wrong propagation) first, on the command line
and in the app's review panel, whose entries jump to their frame and object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.batch.review import build_queue, review_projects
from app.cli import main
from app.demo.groundtruth import GroundTruth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project
from app.errors import InputError
from app.pipeline.runner import PipelineRunner
from app.store import Project

W, H = 192, 108
BROKEN_SHOT = 1


def _episode(root: Path, seed: int, broken: bool) -> int:
    """A generated episode whose masks are the exact truth (smooth, confident), annotated by the annotate stage;
    with ``broken``, shot 1's main object gets a wrong propagation: every other frame its mask jumps a
    fifth of the frame away, where the propagate stage's confidence is low. Returns that object's id."""
    project = create_demo_project(root, seed=seed, width=W, height=H, shots=3, frames_per_shot=8)
    truth = GroundTruth(root / GROUND_TRUTH_FILE)
    try:
        for f in range(project.frame_count):
            project.layers.write("masks", f, truth.frame(f).labels, {"source": "pipeline", "stage": "propagate"})
            project.layers.write("confidence", f, np.full((H, W), 0.97, np.float32), {"source": "pipeline"})
    finally:
        truth.close()
    shot = project.shots[BROKEN_SHOT]
    labels = project.layers.read("masks", shot.start)
    assert labels is not None
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    target = int(ids[np.argmax(counts)])
    if broken:
        for f in range(shot.start + 1, shot.end - 1, 2):
            lab = project.layers.read("masks", f)
            assert lab is not None
            moved = np.roll(lab == target, W // 5, axis=1)
            wrong = np.where(lab == target, 0, lab)
            wrong[moved] = target
            conf = np.where(wrong != lab, 0.35, 0.97).astype(np.float32)
            project.layers.write("masks", f, wrong, {"source": "pipeline", "stage": "propagate"})
            project.layers.write("confidence", f, conf, {"source": "pipeline"})
    runner = PipelineRunner(project).start()
    runner.submit_run(["annotate"]).wait(120)
    assert runner.wait_idle(120)
    runner.stop()
    project.close()
    return target


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("season")
    _episode(root / "ep01", 3, broken=False)
    target = _episode(root / "ep02", 4, broken=True)
    return root, target


def test_broken_shot_ranks_first(season: tuple[Path, int]) -> None:
    root, target = season
    queue = build_queue(root)
    first = queue.entries[0]
    assert (first.episode, first.shot, first.object_id) == ("ep02", BROKEN_SHOT, target)
    assert first.signals["flicker"] > 0.5 and first.signals["low_confidence"] > 0.2
    assert first.score > 2 * queue.entries[1].score
    assert first.start <= first.frame < first.end
    # The plot's per-shot series: one point per shot of the season, the broken one the highest.
    assert len(queue.shots) == 6
    worst = max(queue.shots, key=lambda s: s.score)
    assert (worst.episode, worst.shot) == ("ep02", BROKEN_SHOT)
    # Exact masks flicker only a little (occlusions between characters), far below the broken shot.
    assert all(e.signals["flicker"] < 0.3 for e in queue.entries[1:])


def test_review_command(season: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    root, target = season
    assert main(["review", str(root), "--json", "--top", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["entries"]) == 3 and out["total"] > 3
    top = out["entries"][0]
    assert (top["episode"], top["shot"], top["object_id"]) == ("ep02", BROKEN_SHOT, target)
    assert main(["review", str(root / "ep02")]) == 0  # one project, plain text, worst 5 %
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("1 of ") and f"shot {BROKEN_SHOT + 1} " in text[1] and f"object {target} " in text[1]
    with pytest.raises(InputError):
        review_projects(root / "nothing")


def test_review_panel_plots_and_jumps(qtbot: Any, season: tuple[Path, int]) -> None:
    pytest.importorskip("pytestqt")
    pytest.importorskip("pyqtgraph")
    from app.ui.controller import MainController
    from app.ui.review import ReviewPanel

    root, target = season
    controller = MainController(runner_factory=lambda project: PipelineRunner(project).start())
    panel = ReviewPanel(controller)
    qtbot.addWidget(panel)
    try:
        assert controller.open_project(root / "ep01")
        panel.refresh()
        qtbot.waitUntil(lambda: panel.queue is not None, timeout=30000)
        assert panel.root == root  # a batch's projects folder: the whole season
        xs, ys = panel.score_curve.getData()
        assert xs is not None and ys is not None and len(ys) == 6
        assert int(np.argmax(ys)) == 3 + BROKEN_SHOT  # ep02's shot 1 in season order
        _, flicker = panel.curves["flicker"].getData()
        assert flicker is not None and flicker[3 + BROKEN_SHOT] > 0.5
        queue = panel.queue
        assert queue is not None and panel.table.rowCount() == len(queue.entries)
        cell = panel.table.item(0, 1)
        assert cell is not None and cell.text() == "ep02"
        with qtbot.waitSignal(panel.opened, timeout=10000):
            panel.open_row(0)  # another episode: it is opened, then the frame and object are selected
        entry = queue.entries[0]
        assert controller.project is not None and Path(controller.project.root).name == "ep02"
        assert (controller.frame, controller.object_id) == (entry.frame, target)
    finally:
        controller.close_project()


def test_project_signals_skip_frames_without_masks(tmp_path: Path) -> None:
    project = create_demo_project(tmp_path / "fresh", width=64, height=48, shots=1, frames_per_shot=4)
    project.close()
    with Project.open(tmp_path / "fresh"):
        pass
    assert build_queue(tmp_path / "fresh").entries == []
