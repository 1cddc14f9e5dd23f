"""A measured slice of a 1080p episode, and what it says about a whole 24-minute episode.

Usage::

    python benchmarks/episode_slice.py [--seconds 10] [--size 1080] [--shot-seconds 2.5] [--work DIR]

Generates a clip of anime-like shots (`app.demo.generator`: characters moving over painted plates,
hard cuts; the shared character RGBA from ../shared when present) whose drawings are each held for
2 or 3 frames (anime on twos and threes), encodes it to H.264 (crf 18, a release's compression
noise on every held frame), imports it like any video (holds and shots found from the pictures)
and runs the whole weight-free pipeline: segment, propagate, matte, effects, inpaint, annotate.
Prints, for the import and for each stage, wall seconds and CPU seconds of this process (all its
threads, plus any children), then both extrapolated linearly to a 24-minute episode (34,560 frames
at 24 fps) with the slice's shot length and hold ratio. CPU seconds hardly move with load from other
processes; wall seconds on a shared machine are an upper bound. The extrapolation is a model, not a
measurement: it assumes the episode's shots cost what the slice's shots cost per frame.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import GeneratedVideo, generate_shots
from app.ingest.importer import import_source
from app.pipeline.graph import FRESH, STAGES
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages import STAGE_FUNCTIONS
from app.store import Project, Shot

EPISODE_FRAMES = 24 * 60 * 24  # 24 minutes at 24 fps
SIZES = {360: (640, 360), 540: (960, 540), 720: (1280, 720), 1080: (1920, 1080)}
CHARACTERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "anime" / "characters"


def cpu_seconds() -> float:
    """CPU seconds of this process (every thread) and of its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Clock:
    """Wall and CPU seconds spent inside ``with clock.part(name)`` blocks, summed per name."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def part(self, name: str) -> _Part:
        return _Part(self, name)


class _Part:
    def __init__(self, clock: Clock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), cpu_seconds()

    def __exit__(self, *exc: object) -> None:
        self.clock.wall[self.name] = self.clock.wall.get(self.name, 0.0) + time.perf_counter() - self.t0
        self.clock.cpu[self.name] = self.clock.cpu.get(self.name, 0.0) + cpu_seconds() - self.c0


def held_frames(video: GeneratedVideo, seed: int) -> Iterator[np.ndarray]:
    """Every drawing of ``video`` held 2 or 3 frames (exact repeats before the codec)."""
    rng = np.random.default_rng(seed)
    for frame in video:
        for _ in range(int(rng.integers(2, 4))):
            yield frame.image


def write_clip(path: Path, frames: Iterator[np.ndarray], fps: int = 24, crf: int = 18) -> int:
    """Encode RGB frames to H.264 (yuv420p, like a release); the number of frames written."""
    count = 0
    with av.open(str(path), "w") as out:
        stream: Any = None
        for image in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                out.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    return count


def run_pipeline(project: Project, clock: Clock) -> float:
    """Run every stage on every frame, timing each stage's function; the run's wall seconds."""
    originals = dict(STAGE_FUNCTIONS)

    # The runner may run two shots of a stage at once: a stage's time runs from its first shot's
    # start to its last shot's end, counted once however many shots overlap.
    lock = threading.Lock()
    active: dict[str, int] = {}
    parts: dict[str, _Part] = {}

    def timed(stage: str) -> Callable[[Any, Shot, list[int]], None]:
        def run(ctx: Any, shot: Shot, targets: list[int]) -> None:
            with lock:
                active[stage] = active.get(stage, 0) + 1
                if active[stage] == 1:
                    parts[stage] = clock.part(stage)
                    parts[stage].__enter__()
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                originals[stage](ctx, shot, targets)
                # The stage's queued writes belong to its time, not to the next stage's.
                ctx.drain()
            finally:
                with lock:
                    active[stage] -= 1
                    if active[stage] == 0:
                        parts[stage].__exit__()
            # A long slice reports as it goes: a run cut short still says what it measured.
            print(f"  {stage:<10} shot {shot.start}-{shot.end}: {len(targets)} frames, "
                  f"{time.perf_counter() - t0:.1f} s wall, {time.thread_time() - c0:.1f} s CPU of its thread", flush=True)
        return run

    STAGE_FUNCTIONS.update({stage: timed(stage) for stage in STAGES})
    try:
        runner = PipelineRunner(project).start()
        try:
            with clock.part("run"):
                runner.submit_run().wait()
                runner.wait_idle(48 * 3600)
            for stage in STAGES:
                status = runner.stage_status(stage)
                if not (status == FRESH).all():
                    print(f"  warning: {stage}: {int((status != FRESH).sum())} frames not fresh after the run")
        finally:
            runner.stop()
    finally:
        STAGE_FUNCTIONS.update(originals)
    return clock.wall["run"]


def _hms(seconds: float) -> str:
    return f"{seconds / 3600:5.2f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the slice (24 fps)")
    parser.add_argument("--size", type=int, default=1080, choices=sorted(SIZES))
    parser.add_argument("--shot-seconds", type=float, default=2.5, help="mean shot length")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None, help="keep the clip and project here")
    args = parser.parse_args()
    width, height = SIZES[args.size]
    # Drawings held 2-3 frames: 2.5 frames per drawing on average.
    drawings_per_shot = max(2, round(args.shot_seconds * 24 / 2.5))
    shots = max(1, round(args.seconds / args.shot_seconds))
    work = args.work or Path(tempfile.mkdtemp(prefix="celstudio-slice-"))
    work.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    try:
        characters = CHARACTERS if CHARACTERS.is_dir() else None
        video = generate_shots(args.seed, width=width, height=height, shots=shots,
                               frames_per_shot=drawings_per_shot, character_dir=characters)
        clip = work / "slice.mp4"
        with clock.part("generate + encode"):
            frames = write_clip(clip, held_frames(video, args.seed))
        print(f"slice: {width}x{height}, {frames} frames ({frames / 24:.1f} s), {len(video)} drawings in "
              f"{shots} shots, characters: {'shared RGBA' if characters else 'procedural'}; "
              f"generated + encoded in {clock.wall['generate + encode']:.0f} s", flush=True)
        project_dir = work / "project"
        if project_dir.exists():
            shutil.rmtree(project_dir)
        with clock.part("import"):
            project = import_source(clip, project_dir)
        print(f"imported in {clock.wall['import']:.0f} s wall, {clock.cpu['import']:.0f} s CPU: "
              f"{project.frame_count} frames, {project.drawing_count} drawings found (true {len(video)}), "
              f"{len(project.shots)} shots found (true {shots})", flush=True)
        try:
            run_pipeline(project, clock)
        finally:
            project.close()
        parts = ["import", *STAGES]
        scale = EPISODE_FRAMES / frames
        print(f"\n{'part':<10} {'wall s':>8} {'CPU s':>8} {'CPU ms/frame':>13} {'episode wall':>13} {'episode CPU':>12}")
        for part in parts:
            wall, cpu = clock.wall.get(part, 0.0), clock.cpu.get(part, 0.0)
            print(f"{part:<10} {wall:8.1f} {cpu:8.1f} {1000 * cpu / frames:13.0f} {_hms(wall * scale):>13} "
                  f"{_hms(cpu * scale):>12}")
        wall = clock.wall["import"] + clock.wall["run"]
        cpu = clock.cpu["import"] + clock.cpu["run"]
        print(f"{'total':<10} {wall:8.1f} {cpu:8.1f} {1000 * cpu / frames:13.0f} {_hms(wall * scale):>13} "
              f"{_hms(cpu * scale):>12}   (stages alone: {sum(clock.wall.get(s, 0.0) for s in STAGES):.1f} s wall)")
        # Two cores: a process that kept both busy would finish in half its CPU seconds; one that
        # stays on one core (the runner's one worker thread) needs all of them.
        print(f"\n24-minute episode ({EPISODE_FRAMES} frames, x{scale:.0f} this slice): "
              f"{_hms(wall * scale)} at this run's wall speed (under the load it ran in: an upper bound); "
              f"{_hms(cpu * scale)} of CPU, i.e. {_hms(cpu * scale / 2)}-{_hms(cpu * scale)} on two free cores "
              f"(CPU use of the run: {cpu / max(wall, 1e-9):.2f} cores)")
        store = sum((project_dir / name).stat().st_size for name in ("layers.h5", "index.db", "media.h5")
                    if (project_dir / name).exists())
        print(f"project store: {store / 2**20:.1f} MiB ({store / 2**20 * scale / 1024:.1f} GiB for the episode)")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
