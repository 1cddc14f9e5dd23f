"""Held drawings: the whole weight-free pipeline with holds on and off, side by side in one run, and
the cost of staleness after a click on a big project.

Usage::

    python benchmarks/holds.py pipeline VIDEO [--frames N]     # e.g. ../shared/data/anime/clips/onepiece_demo.mp4
    python benchmarks/holds.py generated [--size 1080] [--drawings 12]
    python benchmarks/holds.py staleness [--frames 10000]
    python benchmarks/holds.py segment VIDEO                  # the segmenter on drawings vs every frame

``pipeline`` imports VIDEO (holds found from the pictures), runs all six stages, then runs them again
on a second import whose frames are each their own drawing, and prints frames/s, the speed-up and
how many held frames got identical layers. ``generated`` does the same on an image folder of a
generated clip drawn on ones, twos and threes (known holds). ``staleness`` times the staleness check
the runner makes after a click (one frame) on a project of N frames, per frame and in bulk.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import generate_shots
from app.ingest.importer import import_source
from app.pipeline.graph import PICTURES_RECORD, SHARE_REPEATS, STAGES, stage_status, stale_frames
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages import STAGE_FUNCTIONS
from app.store import Manifest, Project, Shot, SourceInfo

LAYERS = ("segmentation", "masks", "alpha", "effects", "clean")


def _run(project: Project) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Wall and CPU seconds of a whole run, and the wall and CPU seconds spent in each stage's
    function (CPU: the whole process's, every thread, while the stage ran - it hardly moves with
    the load other processes put on the machine, where wall time does)."""
    spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    cpu: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    originals = dict(STAGE_FUNCTIONS)

    def timed(stage: str) -> Callable[[Any, Shot, list[int]], None]:
        def run(ctx: Any, shot: Shot, targets: list[int]) -> None:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                originals[stage](ctx, shot, targets)
            finally:
                spent[stage] += time.perf_counter() - t0
                cpu[stage] += time.process_time() - c0
        return run

    STAGE_FUNCTIONS.update({stage: timed(stage) for stage in STAGES})
    try:
        runner = PipelineRunner(project).start()
        t0, c0 = time.perf_counter(), time.process_time()
        runner.submit_run().wait()
        runner.wait_idle(24 * 3600)
        wall, total = time.perf_counter() - t0, time.process_time() - c0
        runner.stop()
    finally:
        STAGE_FUNCTIONS.update(originals)
    return wall, total, spent, cpu


def _identical(a: Project, b: Project, layer: str, frame: int) -> bool:
    x, y = a.layers.read(layer, frame), b.layers.read(layer, frame)
    return x is not None and y is not None and np.array_equal(x, y)


def _same_layer(project: Project, layer: str, a: int, b: int) -> bool:
    x, y = project.layers.read(layer, a), project.layers.read(layer, b)
    return x is not None and y is not None and np.array_equal(x, y)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def side_by_side(source: Path, work: Path, true_drawings: int | None = None, held_only: bool = False) -> None:
    held = import_source(source, work / "held")
    every = import_source(source, work / "every")
    every.set_held(np.zeros(every.frame_count, np.uint8))
    every.manifest.settings[SHARE_REPEATS] = False  # no drawing repeats another either
    every.save_manifest()
    n = held.frame_count
    print(f"{source.name}: {n} frames, {held.drawing_count} drawings found"
          + (f" (true: {true_drawings})" if true_drawings is not None else ""))
    t_held, c_held, s_held, cpu_held = _run(held)
    print(f"  holds on : {t_held:8.1f} s wall, {c_held:8.1f} s CPU "
          f"({', '.join(f'{k} {v:.1f}' for k, v in cpu_held.items())} CPU s)", flush=True)
    if held_only:
        _report_repeats(held)
        held.close()
        every.close()
        return
    t_every, c_every, s_every, cpu_every = _run(every)
    print(f"  holds on : {t_held:8.1f} s wall  {n / t_held:6.2f} frames/s   {c_held:8.1f} s CPU  {n / c_held:6.2f} frames/CPU s")
    print(f"  holds off: {t_every:8.1f} s wall  {n / t_every:6.2f} frames/s   {c_every:8.1f} s CPU  {n / c_every:6.2f} frames/CPU s")
    print(f"  speed-up : {t_every / t_held:6.2f}x wall, {c_every / c_held:6.2f}x CPU")
    print(f"    {'stage':<10} {'wall on':>9} {'wall off':>9} {'CPU on':>9} {'CPU off':>9} {'CPU x':>6}")
    for stage in STAGES:
        ratio = cpu_every[stage] / cpu_held[stage] if cpu_held[stage] > 0 else float("nan")
        print(f"    {stage:<10} {s_held[stage]:9.1f} {s_every[stage]:9.1f} {cpu_held[stage]:9.1f} "
              f"{cpu_every[stage]:9.1f} {ratio:6.2f}")
    keys = held.drawing_keys
    held_frames = [f for f in range(n) if keys[f] != f]
    drawings = [f for f in range(n) if keys[f] == f]
    for layer in LAYERS:
        same = sum(1 for f in held_frames if _identical(held, every, layer, f))
        at_drawings = sum(1 for f in drawings if _identical(held, every, layer, f))
        print(f"  {layer:<12} identical on {same} of {len(held_frames)} held frames, "
              f"{at_drawings} of {len(drawings)} drawings' first frames")
    _report_repeats(held)
    ious = [_iou(held.masks_or_empty(f) > 0, every.masks_or_empty(f) > 0) for f in held_frames]
    if ious:
        print(f"  masks foreground IoU on held frames (holds on vs off): min {min(ious):.3f}, mean {np.mean(ious):.3f}")
    raw_held = sum((work / "held" / name).stat().st_size for name in ("layers.h5", "index.db"))
    raw_every = sum((work / "every" / name).stat().st_size for name in ("layers.h5", "index.db"))
    print(f"  layer store: {raw_held / 2**20:.1f} MiB with holds, {raw_every / 2**20:.1f} MiB without")
    held.close()
    every.close()


def _report_repeats(held: Project) -> None:
    """How many drawings repeat an earlier picture, and whether their layers are that picture's."""
    keys = held.drawing_keys
    drawings = [f for f in range(held.frame_count) if keys[f] == f]
    first_of: dict[int, int] = {}
    for shot in held.shots:
        record = held.layers.read_record(PICTURES_RECORD, shot.start) or {}
        first_of.update(zip(record.get("inputs", {}).get("drawings", []), record.get("pictures", []), strict=True))
    repeats = [d for d in drawings if first_of.get(d, d) != d]
    print(f"  {len(drawings) - len(repeats)} pictures among the {len(drawings)} drawings (the others repeat one)")
    for layer in LAYERS:
        same = sum(1 for d in repeats if _same_layer(held, layer, d, first_of[d]))
        print(f"  {layer:<12} identical to the first drawing of its picture on {same} of {len(repeats)} repeats")


def generated(size: int, drawings: int, work: Path) -> None:
    width, height = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}[size]
    video = generate_shots(5, width=width, height=height, shots=2, frames_per_shot=drawings // 2)
    rng = np.random.default_rng(5)
    folder = work / "frames"
    folder.mkdir()
    i = 0
    for frame in video:  # each drawing held on ones, twos or threes
        for _ in range(int(rng.integers(1, 4))):
            cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
            i += 1
    side_by_side(folder, work, true_drawings=len(video))


def segment_drawings(source: Path, work: Path) -> None:
    """Per shot: the weight-free segmenter on every frame, on the drawings only, and on every frame
    with each held frame replaced by an exact copy of its drawing; foreground IoU at the drawings."""
    from models.classical.segmentation import ClassicalSegmenter

    project = import_source(source, work / "p")
    keys = project.drawing_keys
    segmenter = ClassicalSegmenter()
    for shot in project.shots:
        frames = list(range(shot.start, shot.end))
        drawings = [f for f in frames if keys[f] == f]
        runs: dict[str, tuple[float, list[np.ndarray]]] = {}
        for name, pictures in (("every", frames), ("drawings", drawings), ("copies", [int(keys[f]) for f in frames])):
            t0 = time.perf_counter()
            labels = [r.labels for r in segmenter.segment_shot([project.frame(f) for f in pictures])]
            runs[name] = (time.perf_counter() - t0, labels)
        at = {f: i for i, f in enumerate(drawings)}
        every = [runs["every"][1][f - shot.start] > 0 for f in drawings]
        only = [runs["drawings"][1][at[f]] > 0 for f in drawings]
        copies = [runs["copies"][1][f - shot.start] > 0 for f in drawings]
        a = [_iou(x, y) for x, y in zip(only, every, strict=True)]
        b = [_iou(x, y) for x, y in zip(copies, every, strict=True)]
        print(f"shot {shot.start}-{shot.end}: {len(frames)} frames, {len(drawings)} drawings; segment time: every frame "
              f"{runs['every'][0]:.1f} s, drawings only {runs['drawings'][0]:.1f} s, copies {runs['copies'][0]:.1f} s")
        print(f"  foreground IoU with every frame: drawings only min {min(a):.3f} mean {np.mean(a):.3f}; "
              f"copies for held frames min {min(b):.3f} mean {np.mean(b):.3f}")
    project.close()


def staleness(frames: int, work: Path) -> None:
    project = Project.create(work / "big", Manifest("big", SourceInfo("generated", "", "x"), frames, 64, 36, 24.0))
    labels = np.zeros((36, 64), np.uint8)
    labels[10:20, 10:20] = 1
    for f in range(frames):  # masks and a fresh matte everywhere, as after a full run
        project.layers.write("masks", f, labels, {"stage": "propagate"})
    runner = PipelineRunner(project).start()
    runner.submit_run(["matte"]).wait()
    runner.wait_idle(3600)
    runner.stop()
    frame = frames // 2
    for name, frames_asked in (("one frame (click)", [frame]), ("whole project", list(range(frames)))):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            stale_frames(project, "matte", frames_asked, "classical")
            times.append(time.perf_counter() - t0)
        print(f"staleness of {name:<18} on {frames} frames: {1000 * min(times):8.2f} ms")
    t0 = time.perf_counter()
    stage_status(project, "matte", "classical")
    print(f"bulk status strip (every frame)          : {1000 * (time.perf_counter() - t0):8.1f} ms")
    project.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["pipeline", "generated", "staleness", "segment"])
    parser.add_argument("video", nargs="?")
    parser.add_argument("--size", type=int, default=1080)
    parser.add_argument("--drawings", type=int, default=12)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--holds-on-only", action="store_true",
                        help="pipeline: run the half with holds only (the half without is the same computation "
                             "as before repeated drawings were shared: every drawing its own picture)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="celstudio-holds-"))
    try:
        if args.what == "pipeline":
            if not args.video:
                parser.error("pipeline needs a VIDEO")
            side_by_side(Path(args.video), work, held_only=args.holds_on_only)
        elif args.what == "generated":
            generated(args.size, args.drawings, work)
        elif args.what == "segment":
            if not args.video:
                parser.error("segment needs a VIDEO")
            segment_drawings(Path(args.video), work)
        else:
            staleness(args.frames, work)
        print("stages:", ", ".join(STAGES))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
