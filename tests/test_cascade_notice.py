"""`celstudio run` says once when the weight-free segmenter runs without the anime face detector.

Without the cascade touching characters come out as one object (benchmarks/segment_generated.py on
10 tuning seeds: character IoU 0.708 with it, 0.390 without), so a user on a fresh machine is told
how to install it; with the cascade, or when stage 1 does not run, nothing is said.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical import faces

W, H, FRAMES = 48, 32, 4


def _project(root: Path) -> None:
    project = Project.create(root, Manifest("r", SourceInfo("generated", "", "h"), FRAMES, W, H, 24.0,
                                            shots=[Shot(0, FRAMES)]))
    for i in range(FRAMES):
        frame = np.full((H, W, 3), 200, np.uint8)
        frame[8:24, 10 + i : 22 + i] = (30, 60, 200)
        project.media.write_frame(i, frame)
    project.close()


@pytest.mark.parametrize("installed", [False, True])
def test_run_says_when_the_face_detector_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], installed: bool) -> None:
    monkeypatch.setattr(faces, "find_cascade", lambda path=None: tmp_path / "cascade.xml" if installed else None)
    root = tmp_path / "p"
    _project(root)
    assert main(["run", str(root), "--stages", "segment"]) == 0
    out = capsys.readouterr().out
    said = out.count("celstudio models download animeface-cascade")
    assert said == (0 if installed else 1)
    assert "segment" in out  # the stage's summary line: the run itself happened


def test_nothing_is_said_when_stage_one_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(faces, "find_cascade", lambda path=None: None)
    root = tmp_path / "p"
    _project(root)
    assert main(["run", str(root), "--stages", "segment"]) == 0
    capsys.readouterr()
    assert main(["run", str(root), "--stages", "propagate"]) == 0
    assert "animeface-cascade" not in capsys.readouterr().out
