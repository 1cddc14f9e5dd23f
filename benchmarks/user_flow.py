"""A new user's session in the real window, step by step, logged and screenshotted (nothing asserted).

Opens an imported project in `MainWindow` with the real runner (the run starts by itself on a
never-run project), then: cancel 12 s in (during the shot's analysis) and time how long the run takes
to stop; Run all, cancel at the first progress, Run all to the end; solo each layer; rename the
largest object "Hero"; a negative click, a positive click and a box on a middle frame (and which
frames and stages re-ran); undo, redo; merge the two largest objects, split one in the current
shot, delete it there; close and reopen (names and masks compared); export kohya, coco and layers
through the Export dialog. Error dialogs are logged instead of shown. Run under Xvfb for real fonts::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/user_flow.py PROJECT OUT
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

import app.ui.dialogs as dialogs
import app.ui.errors as ui_errors
import app.ui.export_dialog as export_dialog
from app.pipeline.events import FrameFailed, JobFinished, JobProgress, PipelineEvent
from app.ui.controller import MainController
from app.ui.export_dialog import ExportDialog
from app.ui.icons import apply_dark_theme
from app.ui.render import LAYER_ORDER
from app.ui.window import MainWindow


class Session:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        apply_dark_theme(self.app)  # type: ignore[arg-type]
        self.errors: list[str] = []
        ui_errors.show_error = lambda parent, exc: self._error(exc)
        for module in (export_dialog, dialogs):  # they hold their own reference: a modal box blocked the run
            module.show_error = ui_errors.show_error  # type: ignore[attr-defined]
        self.c = MainController()
        self.w = MainWindow(self.c, QSettings(str(out / "ui.ini"), QSettings.Format.IniFormat))
        self.w.resize(1440, 900)
        self.w.show()
        self.t0 = time.monotonic()
        self.events: list[tuple[float, PipelineEvent]] = []
        self.shots = 0
        self.c.bridge.runner_event.connect(self._event)
        self.c.status.connect(lambda m: self.log("STATUS", m))

    def _error(self, exc: BaseException) -> None:
        self.errors.append(str(exc))
        self.log("ERROR", type(exc).__name__, exc)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def log(self, *parts: Any) -> None:
        print(f"[{self.now():7.1f}s]", *parts, flush=True)

    def _event(self, event: PipelineEvent) -> None:
        self.events.append((self.now(), event))
        if isinstance(event, JobFinished | FrameFailed):
            self.log("EVENT", event)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.02)

    def until(self, cond: Callable[[], bool], timeout: float = 900) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.app.processEvents()
            if cond():
                return True
            time.sleep(0.05)
        return False

    def idle(self) -> bool:
        runner = self.c.runner
        return runner is not None and all(j.state not in ("running", "queued") for j in runner.jobs() if j.kind != "prepare")

    def shot(self, name: str) -> None:
        self.shots += 1
        self.pump(0.5)
        self.w.grab().save(str(self.out / f"{self.shots:02d}_{name}.png"))
        self.log("SHOT", f"{self.shots:02d}_{name}", "| work:", self.w.work_label.text(),
                 "| status:", self.w.statusBar().currentMessage(), "| hint shown:", self.w.view.hint.isVisible())

    def listed(self, what: str) -> None:
        """The Objects list as the user sees it on this frame: name, and whether it is greyed (not here)."""
        self.w.objects_panel.mark_here()
        lst = self.w.objects_panel.list
        grey = [lst.item(i).foreground().color().lightness() < 140 for i in range(lst.count())]
        self.log("LIST", what, "frame", self.c.frame, [f"{lst.item(i).text()}{' (greyed)' if g else ''}"
                                                       for i, g in zip(range(lst.count()), grey, strict=True)])

    def progress_since(self, t: float) -> list[JobProgress]:
        return [e for at, e in self.events if at >= t and isinstance(e, JobProgress)]

    def edit(self, what: str, job: Any) -> None:
        """Wait for an edit and the re-runs it caused; log the stages and frames that re-ran."""
        t = self.now()
        self.until(lambda: job is None or job.wait(0))
        self.until(self.idle)
        self.pump(1)
        self.log(what, "re-ran", sorted({(e.stage, e.frame) for e in self.progress_since(t)}))

    def run(self) -> None:
        c = self.c
        c.auto_run = True
        assert c.open_project(self.root)
        self.pump(12)
        self.shot("analysing")
        asked = self.now()
        c.cancel()
        self.until(lambda: any(at >= asked and isinstance(e, JobFinished) for at, e in self.events))
        self.log("cancel during the analysis took", round(self.now() - asked, 1), "s")
        c.run_all()
        t = self.now()
        self.until(lambda: bool(self.progress_since(t)))
        self.shot("running")
        c.cancel()
        self.until(self.idle)
        self.shot("cancelled")
        c.run_all()
        self.until(lambda: self.idle() and not c.work_left.get("stale") and not c.work_left.get("missing"), 3000)
        self.shot("done")

    def edits(self) -> None:
        c = self.c
        p = c.project
        assert p is not None
        c.set_frame(p.frame_count // 2)
        for layer in LAYER_ORDER:
            c.set_solo(layer)
            self.pump(1.5)
            self.shot(f"solo_{layer}")
        c.set_solo(None)
        counts: dict[int, int] = {}
        for f in range(p.frame_count):
            ids, n = np.unique(p.masks_or_empty(f), return_counts=True)
            for i, k in zip(ids.tolist(), n.tolist(), strict=True):
                if i:
                    counts[i] = counts.get(i, 0) + k
        self.log("objects", [(o.id, o.name, o.kind, counts.get(o.id, 0)) for o in p.manifest.objects])
        for f in sorted({s.start for s in p.shots} | {p.frame_count // 2}):
            c.set_frame(f)
            self.pump(0.5)
            self.listed("after the run")
        c.set_frame(p.frame_count // 2)
        big = sorted(counts, key=lambda i: -counts[i])
        hero = big[0]
        self.edit("rename", c.rename_object(hero, "Hero"))
        frame = next(f for f in range(p.frame_count // 2, p.frame_count) if (p.masks_or_empty(f) == hero).sum() > 200)
        c.set_frame(frame)
        c.set_object(hero)
        ys, xs = np.nonzero(p.masks_or_empty(frame) == hero)
        self.edit("negative click", c.click(float(xs[len(xs) // 3]), float(ys[len(ys) // 3]), positive=False))
        self.edit("positive click", c.click(float(xs.mean()), float(ys.mean())))
        before = p.masks_or_empty(frame).copy()
        self.edit("box", c.set_box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())))
        boxed = p.masks_or_empty(frame).copy()
        self.shot("corrected")
        c.undo()
        self.edit("undo", None)
        self.log("undo gives the mask before the box", bool(np.array_equal(p.masks_or_empty(frame), before)))
        c.redo()
        self.edit("redo", None)
        self.log("redo gives the box's mask", bool(np.array_equal(p.masks_or_empty(frame), boxed)))
        others = [i for i in big[1:] if p.object(i) is not None]
        if others:
            self.edit("merge", c.merge_objects(hero, others[0]))
            self.shot("merged")
        self.edit("split", c.split_object(hero))
        self.shot("split")
        new = max(o.id for o in p.manifest.objects)
        self.listed("before the delete")
        c.delete_object(new, this_shot=True)
        self.edit("delete in this shot", None)
        self.shot("deleted_in_shot")
        self.listed("after the delete in this shot")
        c.undo()
        self.edit("undo the delete", None)
        self.listed("after undo")
        c.redo()
        self.edit("redo the delete", None)
        self.listed("after redo")
        names = {o.id: o.name for o in p.manifest.objects}
        masks = {f: p.masks_or_empty(f).copy() for f in (0, frame, p.frame_count - 1)}
        c.close_project()
        assert c.open_project(self.root)
        self.until(self.idle)
        p = c.project
        assert p is not None
        self.log("reopened: names the same", {o.id: o.name for o in p.manifest.objects} == names,
                 "masks the same", all(np.array_equal(m, p.masks_or_empty(f)) for f, m in masks.items()))
        for fmt in ("kohya", "coco", "layers"):
            dialog = ExportDialog(c, self.w)
            dialog.out.setText(str(self.out / f"export_{fmt}"))
            dialog.format.setCurrentText(fmt)
            dialog.accept()
            errors = len(self.errors)
            self.until(lambda d=dialog, n=errors: d.summary_dialog is not None or len(self.errors) > n, 600)  # type: ignore[misc]
            if dialog.summary_dialog is not None:
                self.log("export summary", dialog.summary_dialog.lines)
                dialog.summary_dialog.grab().save(str(self.out / f"export_{fmt}.png"))
                dialog.summary_dialog.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path, help="a project imported from a video, never run")
    parser.add_argument("out", type=Path, help="folder for screenshots and exports")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    session = Session(args.project, args.out)
    session.run()
    session.edits()
    session.c.close_project()


if __name__ == "__main__":
    main()
