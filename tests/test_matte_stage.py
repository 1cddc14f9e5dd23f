"""The matte stage hands the weight-free matter its batch of drawings among the sampled frames of the
shot, so each drawing is matted once and frames that only lend background are not matted at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from test_pipeline_runner import Annotator, Calls, Clicker, Effects, Inpaint, Propagator, Seg

from app.pipeline.graph import FRESH
from app.pipeline.runner import PipelineRunner
from app.store import Manifest, Project, Shot, SourceInfo

W, H, N = 96, 32, 24
HELD = 5  # frame 5 holds frame 4's drawing


class ShotMatter:
    """Mattes each target with its picture's id, and counts which pictures it matted."""

    def __init__(self) -> None:
        self.made: Counter[int] = Counter()
        self.lent = 0  # frames seen that were not targets

    def matte(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise AssertionError("the stage uses matte_shot")

    def matte_shot(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], transforms: Any = None,
                   targets: Sequence[int] | None = None) -> list[np.ndarray]:
        wanted = list(range(len(frames))) if targets is None else list(targets)
        self.lent += len(frames) - len(wanted)
        out = []
        for k in wanted:
            picture = int(frames[k][0, 0, 0])
            self.made[picture] += 1
            out.append(masks[k].astype(np.float32) * (picture + 1) / 32)
        return out


def drawn_project(path: Path) -> Project:
    """One shot of N frames, each its own drawing (its id in the red channel, a green block that
    moves) except frame HELD, which holds the drawing before it."""
    project = Project.create(path, Manifest("p", SourceInfo("generated", "", "m"), N, W, H, 24.0, shots=[Shot(0, N)]))
    for f in range(N):
        picture = f - 1 if f == HELD else f
        image = np.zeros((H, W, 3), np.uint8)
        image[..., 0] = picture
        image[8:20, 2 + 3 * picture : 14 + 3 * picture, 1] = 255
        project.media.write_frame(f, image)
    project.set_held(np.array([int(f == HELD) for f in range(N)], np.uint8))
    return project


def test_each_drawing_is_matted_once_and_gets_its_own_matte(tmp_path: Path) -> None:
    project = drawn_project(tmp_path / "p")
    calls, matter = Calls(), ShotMatter()
    backends = {
        "segmenter": Seg(calls), "matter": matter, "inpainter": Inpaint(calls), "effects": Effects(calls),
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator(),
    }
    runner = PipelineRunner(project, backends=backends).start()
    try:
        runner.submit_run().wait(60)
        assert runner.wait_idle()
        assert (runner.stage_status("matte") == FRESH).all()
        drawings = [p for p in range(N) if p != HELD]
        assert matter.made == Counter(drawings)  # 23 drawings in two batches, each matted once
        assert matter.lent > 0  # the second batch was sampled with frames of the first
        for f in range(N):
            alpha = project.layers.read("alpha", f)
            picture = f - 1 if f == HELD else f
            assert alpha is not None and int(alpha.max()) == round((picture + 1) / 32 * 255), f
    finally:
        runner.stop()
        project.close()
