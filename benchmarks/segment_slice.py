"""The segment stage alone on a clip, as the 1080p slice runs it, with a fingerprint of what it wrote.

Usage::

    python benchmarks/segment_slice.py CLIP WORK [--profile OUT.prof]

Imports ``CLIP`` afresh into ``WORK/project`` (the clip of `episode_slice.py --work DIR`: ``DIR/slice.mp4``)
and runs the segment stage through the runner as the slice does: each shot's camera is analysed in the
stage (the first shot's on the stage thread, the next one's ahead on a helper), then segmented and
registered. Prints each shot's wall seconds and its stage thread's CPU seconds, the stage's wall and
process CPU seconds, and a sha256 over every frame's ``segmentation`` row and meta, the ``identity`` and
``shot/camera`` records and every object and track link: two versions of the code that print the same
fingerprint wrote the same segmentation and objects. ``--profile``: a cProfile of every thread, timed
by each thread's own CPU clock, merged into one file (`pstats`).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import resource
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.importer import import_source
from app.pipeline.graph import CAMERA_RECORD
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages import STAGE_FUNCTIONS
from app.store import Project, Shot


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def fingerprint(project: Project) -> str:
    """sha256 of the segment stage's results: labels and meta per frame, records, objects and links."""
    h = hashlib.sha256()
    for f in range(project.frame_count):
        labels = project.layers.read("segmentation", f)
        h.update(b"-" if labels is None else labels.tobytes())
        h.update(json.dumps(project.layers.meta("segmentation", f), sort_keys=True).encode())
    for name in ("identity", CAMERA_RECORD):
        records = project.layers.read_records(name)
        h.update(json.dumps({str(k): v for k, v in sorted(records.items())}, sort_keys=True).encode())
    objects = [(o.id, o.name, o.kind) for o in sorted(project.objects.all(), key=lambda o: o.id)]
    links = [(t.shot, t.track, [list(p) for p in t.pieces]) for t in project.objects.tracks()]
    h.update(json.dumps([objects, links], default=str).encode())
    return h.hexdigest()


def profile_threads() -> list[cProfile.Profile]:
    """Profile every thread started from now on by its own CPU clock; the profiles, filled as they run."""
    profiles: list[cProfile.Profile] = []
    run = threading.Thread.run

    def profiled(self: threading.Thread) -> None:
        p = cProfile.Profile(time.thread_time)
        profiles.append(p)
        p.enable()
        try:
            run(self)
        finally:
            p.disable()

    threading.Thread.run = profiled  # type: ignore[method-assign]
    return profiles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--profile", type=Path, default=None)
    args = ap.parse_args()
    root = args.work / "project"
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    project = import_source(args.clip, root)
    profiles = profile_threads() if args.profile else []
    segment = STAGE_FUNCTIONS["segment"]

    def timed(ctx: Any, shot: Shot, targets: list[int]) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        segment(ctx, shot, targets)
        ctx.drain()
        print(f"  shot {shot.start}-{shot.end}: {time.perf_counter() - t0:.1f} s wall, "
              f"{time.thread_time() - c0:.1f} s CPU of the stage thread", flush=True)

    STAGE_FUNCTIONS["segment"] = timed
    try:
        runner = PipelineRunner(project).start()
        t0, c0 = time.perf_counter(), cpu_seconds()
        runner.submit_run(["segment"]).wait()
        runner.wait_idle(3600)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        runner.stop()
    finally:
        STAGE_FUNCTIONS["segment"] = segment
    print(f"segment: {wall:.1f} s wall, {cpu:.1f} s CPU (process)")
    if args.profile and profiles:
        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        stats.dump_stats(str(args.profile))
    print(f"fingerprint {fingerprint(project)}")
    project.close()


if __name__ == "__main__":
    main()
