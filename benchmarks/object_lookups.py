"""Where an object is, on an episode-length project: delete in one shot, "Go to it", a merge or delete
over the whole episode and the export's selection, before and after the per-frame lists of ids
(`app.store.layers.LayerStore.present`).

Usage::

    .venv/bin/python benchmarks/object_lookups.py                      # 3,000 frames of 1280x720, 30 shots
    .venv/bin/python benchmarks/object_lookups.py --frames 600 --width 854 --height 480

A synthetic store (no video): every shot holds two characters found in it and one seen in every shot,
written as the propagate stage writes masks. Measured, in CPU seconds (``time.process_time``), each
the median of ``--repeats``:

    outside   `ObjectStore._appears_outside` for an object of the first shot only (what "Delete... >
              In this shot" asks): before, reading every other frame's masks; after, the lists
    go to     the Objects list's "Go to it" for an object of the last shot, from frame 0: before,
              reading masks frame by frame until it is found; after, `ObjectStore.frames_of`
    ("before" for merge and select is the same code with the lists taken away, which reads and counts
    every map as the code before them did)
    seen      every object with pixels anywhere (the list's "(no frames)", `drop_unseen`): after only
              (before, it was not asked: it would read every frame)
    merge     the label-map edits of merging an object of the first shot into another (a user's merge,
              registration's after a shot, "Delete... > Everywhere": `relabel` over every frame), not
              committed: before, every frame's map read; after, only those the lists say hold it
    select    the export's selection of every frame and object (`app.export.selection.select`):
              before, every frame's map read and counted; after, the lists
    review    which objects each shot holds, for the review queue (`app.batch.review.project_signals`,
              which still reads the maps for its signals): before, np.unique of every map already
              read; after, the lists (what the change saves; the reading is not counted either way)
    rebuild   the first lookup on a project written before the lists (they are worked out from the
              maps once and stored)
    write     what listing the ids adds to a masks write (`label_counts`, and the row in index.db)

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.export.selection import Selection, select  # noqa: E402
from app.store import Manifest, Project, Shot, SourceInfo  # noqa: E402
from app.store.layers import label_counts  # noqa: E402
from app.store.object_masks import relabel  # noqa: E402


def build(root: Path, frames: int, width: int, height: int, shots: int) -> tuple[list[Shot], int, int]:
    """The project; returns its shots, an object of the first shot only and one of the last shot only."""
    per = frames // shots
    cuts = [Shot(i * per, frames if i == shots - 1 else (i + 1) * per) for i in range(shots)]
    manifest = Manifest("bench", SourceInfo("generated", "", "h"), frames, width, height, 24.0, shots=cuts)
    with Project.create(root, manifest) as p:
        for i, shot in enumerate(cuts):
            found = p.objects.register_shot(shot.start, {1: "character", 2: "character", 3: "character"},
                                            {3: p.objects.track(0, 3).object_at(0)} if i else None)  # type: ignore[union-attr]
            for f in range(shot.start, shot.end):
                labels = np.zeros((height, width), np.uint8)
                x = (f - shot.start) * 3 % (width // 3)
                labels[height // 4 : 3 * height // 4, x : x + width // 6] = found[1]
                labels[height // 3 : height - 8, width // 2 : width // 2 + width // 5] = found[2]
                labels[8 : height // 5, width - width // 8 : width - 4] = found[3]
                p.layers.write("masks", f, labels, {"source": "pipeline"})
        first = p.objects.track(0, 1).object_at(0)  # type: ignore[union-attr]
        last = p.objects.track(cuts[-1].start, 1).object_at(cuts[-1].start)  # type: ignore[union-attr]
    return cuts, first, last


def old_outside(p: Project, oid: int, start: int, end: int) -> bool:
    """`ObjectStore._appears_outside` before the lists (main 750a665)."""
    if any(t.shot != start for t in p.objects.tracks_of(oid)):
        return True
    layers = p.layers
    return any(
        (labels := layers.read("masks", f)) is not None and bool((labels == oid).any())
        for f in (*range(start), *range(end, p.frame_count))
    )


def old_go_to(p: Project, oid: int, frame: int) -> int | None:
    """The controller's `go_to_object` before the lists: the first frame after ``frame`` with ``oid``."""
    for f in [*range(frame + 1, p.frame_count), *range(frame + 1)]:
        if (p.masks_or_empty(f) == oid).any():
            return f
    return None


def new_go_to(p: Project, oid: int, frame: int) -> int | None:
    frames = p.objects.frames_of(oid)
    return next((f for f in frames if f > frame), frames[0]) if frames else None


def listless(p: Project, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run as the code before the lists ran: no list known, so every frame's map is read."""

    def run() -> object:
        p.layers.present = lambda layer: {}  # type: ignore[method-assign]
        try:
            return fn()
        finally:
            del p.layers.present
    return run


def cpu(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--shots", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="celstudio-lookups-") as tmp:
        root = Path(tmp) / "p"
        t0 = time.process_time()
        cuts, first, last = build(root, args.frames, args.width, args.height, args.shots)
        print(f"project: {args.frames} frames of {args.width}x{args.height}, {len(cuts)} shots; "
              f"written in {time.process_time() - t0:.1f} s CPU")
        labels = np.zeros((args.height, args.width), np.uint8)
        labels[100:300, 200:400] = 7
        count_s, _ = cpu(lambda: [label_counts(labels) for _ in range(50)], args.repeats)
        print(f"write: listing a map's ids {1000 * count_s / 50:.2f} ms CPU per masks write")
        shot = cuts[0]
        with Project.open(root) as p:
            before, was = cpu(lambda: old_outside(p, first, shot.start, shot.end), args.repeats)
            after, now = cpu(lambda: p.objects._appears_outside(first, shot.start, shot.end), args.repeats)
            assert was == now
            print(f"outside (delete in one shot): before {before:.3f} s, after {after:.4f} s CPU (x{before / max(after, 1e-6):.0f})")
            before, was = cpu(lambda: old_go_to(p, last, 0), args.repeats)
            after, now = cpu(lambda: new_go_to(p, last, 0), args.repeats)
            assert was == now, (was, now)
            print(f"go to (object of the last shot, from frame 0): before {before:.3f} s, after {after:.4f} s CPU "
                  f"(x{before / max(after, 1e-6):.0f})")
            seen, ids = cpu(lambda: p.objects.seen(), args.repeats)
            print(f"seen (objects with pixels anywhere, {len(ids)}): {seen:.4f} s CPU")  # type: ignore[arg-type]
            other = p.objects.track(0, 2).object_at(0)  # type: ignore[union-attr]

            def merge() -> list[int]:
                return [e.frame for e in relabel(p, range(p.frame_count), {first: other}, other)]

            before, was = cpu(listless(p, merge), args.repeats)
            after, now = cpu(merge, args.repeats)
            assert was == now
            print(f"merge (an object of the first shot, {len(now)} maps changed): before {before:.3f} s, "  # type: ignore[arg-type]
                  f"after {after:.3f} s CPU (x{before / max(after, 1e-6):.0f})")

            def selected() -> list[tuple[int, list[int], dict[int, int]]]:
                return [(it.frame, it.objects, it.areas) for it in select(p, Selection())]

            before, was = cpu(listless(p, selected), args.repeats)
            after, now = cpu(selected, args.repeats)
            assert was == now
            print(f"select (export, every frame and object, {len(now)} frames): before {before:.3f} s, "  # type: ignore[arg-type]
                  f"after {after:.4f} s CPU (x{before / max(after, 1e-6):.0f})")
        with sqlite3.connect(root / "index.db") as con:
            con.execute("DELETE FROM present")  # a project written before the lists
        with Project.open(root) as p:
            t0 = time.process_time()
            p.objects._appears_outside(first, shot.start, shot.end)
            rebuild = time.process_time() - t0
            again, _ = cpu(lambda: p.objects._appears_outside(first, shot.start, shot.end), args.repeats)
        with Project.open(root) as p:  # reopened: the rebuilt lists were stored
            reopened, _ = cpu(lambda: p.objects._appears_outside(first, shot.start, shot.end), args.repeats)
        with Project.open(root) as p:
            old_ids, new_ids, before, after = [], [], 0.0, 0.0
            for shot in cuts:
                maps = [p.layers.read("masks", f) for f in range(shot.start, shot.end)]
                t0 = time.process_time()
                old_ids.append(sorted({int(i) for lab in maps if lab is not None for i in np.unique(lab) if i}))
                before += time.process_time() - t0
                t0 = time.process_time()
                listed = p.layers.present("masks")
                new_ids.append(sorted({i for f, lab in zip(range(shot.start, shot.end), maps, strict=True) if lab is not None
                                       for i in (listed[f] if f in listed else label_counts(lab))}))
                after += time.process_time() - t0
            assert old_ids == new_ids
            print(f"review (objects of each shot, maps already read): before {before:.3f} s, after {after:.3f} s CPU")
        print(f"rebuild (a project without the lists): first lookup {rebuild:.2f} s CPU, then {again:.4f} s, "
              f"after reopening {reopened:.4f} s")


if __name__ == "__main__":
    main()
