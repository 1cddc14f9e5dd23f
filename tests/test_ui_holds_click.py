"""A click on a held frame is shown on that frame: the write lands on its drawing's first frame, and
every view of the hold redraws (issue #10: a correction on any frame of a hold is the whole hold's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from clickers import DiskClicker

from app.store import Manifest, Project, Shot, SourceInfo

W, H = 96, 64


def test_a_click_on_a_held_frame_redraws_every_frame_of_its_hold(qtbot: Any, tmp_path: Path) -> None:
    from app.pipeline.runner import PipelineRunner
    from app.ui.controller import MainController

    root = tmp_path / "p"
    with Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), 8, W, H, 24.0, shots=[Shot(0, 8)])) as p:
        img = np.full((H, W, 3), 200, np.uint8)
        for f in range(8):
            p.media.write_frame(f, img)
            p.media.write_proxy(f, img)
        p.set_held(np.array([0, 1, 1, 1, 0, 1, 1, 1], np.uint8))  # drawings 0-3 and 4-7
    c = MainController(runner_factory=lambda p: PipelineRunner(p, backends={"clicker": DiskClicker(radius=10)}).start())
    c.auto_run = False
    redrawn: list[dict[str, Any]] = []
    c.data_changed.connect(redrawn.append)
    try:
        c.open_project(root)
        c.add_object("A")
        c.set_frame(2)  # a held frame of the first drawing
        job = c.click(40, 30, True)
        assert job is not None and job.wait(30)
        qtbot.waitUntil(lambda: any(2 in (d.get("masks") or ()) for d in redrawn), timeout=10000)
        masks = {f for d in redrawn for f in (d.get("masks") or ())}
        assert {0, 1, 2, 3} <= masks and not masks & {4, 5, 6, 7}
        assert c.project is not None
        assert c.project.masks_or_empty(3)[30, 40] == c.object_id
    finally:
        c.close_project()
