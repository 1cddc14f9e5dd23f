"""``celstudio batch`` and ``celstudio review``: progress on a terminal, a plain log otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.errors import CelstudioError


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="SRC", help="video files or folders of them (one project per episode)")
    p.add_argument("--projects", required=True, metavar="DIR", help="folder of the episodes' projects")
    p.add_argument("--address", help="join a Ray cluster (auto, HOST:PORT or ray://HOST:PORT); default: a local instance")
    p.add_argument("--stages", help="comma-separated stages (default: all)")
    p.add_argument("--backend", action="append", default=[], metavar="ROLE=NAME", help="e.g. matter=u2net")
    p.add_argument("--workers", type=int, help="worker processes per stage group (default: as the cluster's CPUs/GPUs allow)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0)
    p.add_argument("--retries", type=int, default=2, help="retries of a failed shot before it is reported (default 2)")
    p.add_argument("--export", nargs=2, metavar=("FORMAT", "OUT"), help="export each finished episode to OUT/<episode>")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")


def run_batch_command(args: argparse.Namespace) -> int:
    from app.batch.driver import BatchOptions, BatchRun, require_ray
    from app.pipeline.cli import parse_backends
    from app.pipeline.graph import STAGES
    from app.terminal import Progress

    require_ray()  # says how to install it before anything is imported or started
    if args.retries < 0 or (args.workers is not None and args.workers < 1):
        raise CelstudioError("--retries must be 0 or more and --workers 1 or more.")
    options = BatchOptions(
        stages=args.stages.split(",") if args.stages else list(STAGES),
        backends=parse_backends(args.backend), address=args.address, workers=args.workers,
        cpus_per_worker=args.cpus_per_worker, max_attempts=args.retries + 1,
        export=(args.export[0], Path(args.export[1])) if args.export else None,
    )
    bar = Progress()

    def show(state: dict[str, Any]) -> None:
        eta = f"ETA {state['eta_s']:.0f}s" if state["fps"] > 0 else "ETA -"
        extra = (f"shots · episodes {state['episodes_done']}/{state['episodes']} · {state['fps']:.1f} f/s · {eta}"
                 f" · {state['workers']} workers")
        bar.update("batch", state["shots_done"], state["shots"], extra)

    def say(line: str) -> None:
        sys.stderr.write(("\n" if bar.tty else "") + line + "\n")

    summary = BatchRun([Path(s) for s in args.sources], Path(args.projects), options, show, say).run()
    if args.json:
        print(json.dumps(summary.as_dict(), indent=1))
    else:
        print(f"{summary.shots_run} shots run, {summary.shots_skipped} already complete, {summary.shots_failed} failed; "
              f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.frames_per_s:.1f} f/s) on "
              f"{len(summary.workers)} workers ({summary.address or 'no cluster needed'})")
        for ep in summary.episodes:
            for failure in ep["failed_shots"]:
                print(f"failed: {ep['name']} shot {failure['shot'] + 1}: {failure['reason']}")  # from 1, as the app
            for failure in ep["failed_frames"][:10]:
                print(f"failed: {ep['name']} {failure['stage']} frame {failure['frame'] + 1}: {failure['reason']}")
            if ep["export_error"]:
                print(f"not exported: {ep['name']}: {ep['export_error']}")
    failed = summary.shots_failed or any(ep["failed_frames"] or ep["export_error"] for ep in summary.episodes)
    return 1 if failed else 0


def add_review_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a project or a folder of projects (a season)")
    p.add_argument("--percent", type=float, default=5.0, help="list the worst PERCENT %% of shot objects (default 5)")
    p.add_argument("--top", type=int, help="list the worst N instead")
    p.add_argument("--json", action="store_true")


def run_review_command(args: argparse.Namespace) -> int:
    from app.batch.review import build_queue

    if args.top is not None and args.top < 1:
        raise CelstudioError("--top must be 1 or more.")
    queue = build_queue(Path(args.dir))
    entries = queue.top(percent=args.percent, count=args.top)
    if args.json:
        print(json.dumps({"total": len(queue.entries), "entries": [e.as_dict() for e in entries]}, indent=1))
        return 0
    print(f"{len(entries)} of {len(queue.entries)} shot objects to review, worst first:")
    for e in entries:
        # Shots and frames from 1, as the app shows them (the JSON keeps the indices).
        print(f"{e.score:6.3f}  {e.episode}  shot {e.shot + 1} (frames {e.start + 1}-{e.end})  object {e.object_id}  "
              f"frame {e.frame + 1}  {e.reason}")
    return 0
