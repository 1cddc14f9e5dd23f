"""Memory of undo history: delete one object across N 1080p frames, keep the edit undoable, and print
the resident-memory growth (peak during the delete and what stays after it), then undo it.

Usage: ``python benchmarks/undo_memory.py [--frames 2000] [--size 1080]``. The project is written
to a temporary folder (about 10 MB per 1,000 frames of label maps).

``--confidence``: instead, the side file a propagation across N frames keeps for its undo
(`app.store.undo_confidence`): CPU seconds of writing it at the commit, its size, and that an undo and
a redo give back the very maps kept.
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
from typing import Any

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
    parser.add_argument("--confidence", action="store_true", help="measure a propagation's confidence side file")
    args = parser.parse_args()
    width, height = SIZES[args.size]
    if args.confidence:
        side_file(args.frames, width, height)
        return
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


def confidence_map(f: int, width: int, height: int) -> np.ndarray:
    """A propagation's confidence (uint8, as the layer stores it): sure (255) where the propagation agreed,
    falling off in a noisy band round two moving characters' outlines, where it did not."""
    rng = np.random.default_rng(f)
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.full((height, width), 255.0)
    for cx, cy, r in ((300 + f % 400, height // 2, height // 4), (width - 400, 2 * height // 3, height // 5)):
        edge = np.abs(np.hypot(xx - cx, yy - cy) - r)
        band = edge < 12
        out[band] = 140 + 9 * edge[band] + rng.normal(0, 6, int(band.sum()))
    return np.clip(out, 0, 255).astype(np.uint8)


def side_file(frames: int, width: int, height: int) -> None:
    """Write the side file of a propagation over ``frames`` frames (each with a map before and after), as
    its commit does, and read it back through an undo and a redo."""
    from app.store import undo_confidence

    work = Path(tempfile.mkdtemp(prefix="celstudio-side-"))
    try:
        project = Project.create(work / "p", Manifest("side", SourceInfo("generated", "", "x"), frames, width, height, 24.0))
        before: dict[int, tuple[bytes, dict[str, Any]] | None] = {
            f: (undo_confidence.pack(confidence_map(f, width, height)), {"stage": "propagate"}) for f in range(frames)}
        after = {f: undo_confidence.pack(confidence_map(f + frames, width, height)) for f in range(frames)}
        packed = sum(len(b[0]) for b in before.values() if b) + sum(len(a) for a in after.values())
        t0, c0 = time.perf_counter(), time.process_time()
        size = undo_confidence.save(project, 1, before, after)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        print(f"side file of {frames} frames {width}x{height}: {size / 2**20:.2f} MiB (packed in memory "
              f"{packed / 2**20:.2f} MiB), written in {cpu:.2f} CPU s ({wall:.2f} s)")
        for which, maps in (("undo", {f: b[0] for f, b in before.items() if b}), ("redo", after)):
            t0 = time.process_time()
            assert undo_confidence.restore(project, 1, which) == list(range(frames))
            cpu = time.process_time() - t0
            for f in range(frames):
                restored = project.layers.read("confidence", f)
                assert restored is not None and np.array_equal(restored, undo_confidence.unpack(maps[f])), (which, f)
            print(f"{which}: {cpu:.2f} CPU s, every map as kept")
        project.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
