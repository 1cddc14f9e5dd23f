"""Memory of undo history: delete one object across N 1080p frames, keep the edit undoable, and print
the resident-memory growth (peak during the delete and what stays after it), then undo it.

Usage: ``python benchmarks/undo_memory.py [--frames 2000] [--size 1080]``. The project is written
to a temporary folder (about 10 MB per 1,000 frames of label maps).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.store import Manifest, Project, SourceInfo

SIZES = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1080, choices=sorted(SIZES))
    args = parser.parse_args()
    width, height = SIZES[args.size]
    work = Path(tempfile.mkdtemp(prefix="celstudio-undo-"))
    try:
        project = Project.create(work / "p", Manifest("undo", SourceInfo("generated", "", "x"), args.frames,
                                                      width, height, 24.0))
        hero = project.add_object("Hero")
        other = project.add_object("Other")
        yy, xx = np.mgrid[0:height, 0:width]
        t0 = time.perf_counter()
        for f in range(args.frames):  # two characters that move, as after a run
            labels = np.zeros((height, width), np.uint8)
            labels[((xx - (300 + f % 400)) ** 2 + (yy - height // 2) ** 2) < (height // 4) ** 2] = hero.id
            labels[(abs(xx - (width - 400)) < 150) & (yy > height // 3)] = other.id
            project.layers.write("masks", f, labels, {"stage": "propagate"})
        print(f"{args.frames} frames {width}x{height} written in {time.perf_counter() - t0:.1f} s")
        gc.collect()
        proc = psutil.Process()
        base = proc.memory_info().rss
        with PeakRss() as peak:
            t0 = time.perf_counter()
            entry = project.delete_object(hero.id)
            wall = time.perf_counter() - t0
        gc.collect()
        after = proc.memory_info().rss
        assert entry is not None and len(entry.edits) == args.frames
        print(f"delete across {args.frames} frames: {wall:.1f} s; RSS growth peak "
              f"{(peak.peak - base) / 2**20:.0f} MiB, kept after {(after - base) / 2**20:.0f} MiB "
              f"(undo history holds {sum(len(e.before_png) + len(e.after_png) for e in entry.edits) / 2**20:.1f} MiB)")
        t0 = time.perf_counter()
        project.undo()
        restored = project.layers.read("masks", args.frames // 2)
        assert restored is not None and (restored == hero.id).any()
        print(f"undo: {time.perf_counter() - t0:.1f} s, the object is back")
        project.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
