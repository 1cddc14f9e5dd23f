"""How long a cancelled run takes to stop (printed, never asserted).

Copies an imported, never-run project, starts ``Run all stages`` with the project's backends, cancels
it after ``--after`` seconds and prints the wall and CPU seconds from the cancel to the job's end,
and how many progress events came before the cancel (none: it was cancelled while loading models or
analysing the first shot). Run from the checkout whose code is measured, e.g.::

    celstudio import clip.mp4 /tmp/p
    .venv/bin/python benchmarks/cancel_latency.py /tmp/p /tmp/p-copy --after 15
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.pipeline.events import JobFinished, JobProgress, PipelineEvent
from app.pipeline.runner import PipelineRunner
from app.store import Project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path, help="an imported project (left unchanged)")
    parser.add_argument("work", type=Path, help="where the copy that runs goes (replaced)")
    parser.add_argument("--after", type=float, default=15.0, help="seconds before the cancel")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(args.project, args.work)
    events: list[PipelineEvent] = []
    with Project.open(args.work) as project:
        runner = PipelineRunner(project)
        runner.subscribe(events.append)
        runner.start()
        try:
            job = runner.submit_run()
            time.sleep(args.after)
            before = sum(isinstance(e, JobProgress) for e in events)
            wall, cpu = time.monotonic(), time.process_time()
            runner.cancel(job.job_id)
            job.wait(3600)
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        finally:
            runner.stop()
    ended = [e.status for e in events if isinstance(e, JobFinished)]
    print(f"cancelled {args.after:.0f} s in, after {before} progress events: stopped in {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU (this process); job ended {ended}")


if __name__ == "__main__":
    main()
