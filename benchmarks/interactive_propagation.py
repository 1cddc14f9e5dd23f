"""Interactive propagation through the runner: time to the first streamed frame, time to the journal
entry, and how many change notifications a view receives per propagated frame.

Usage::

    python benchmarks/interactive_propagation.py [--size 480] [--frames 48] [--chunk 12] [--repeats 3]

A generated shot, a brush stroke on its first frame, then ``submit_propagate(0, "forward")`` with the
weight-free propagator, timed from the submit; the downstream re-run it queues is cancelled (it is not
what is measured). Notifications are the store's ``LayerWritten`` for ``masks`` plus any runner event
that names frames (earlier runners announced each streamed frame twice). Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.project import create_demo_project
from app.pipeline.runner import PipelineRunner

SIZES = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, choices=sorted(SIZES), default=480)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--chunk", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = SIZES[args.size]
    with tempfile.TemporaryDirectory() as tmp:
        project = create_demo_project(Path(tmp) / "p", width=width, height=height, shots=1, frames_per_shot=args.frames)
        runner = PipelineRunner(project)
        runner.settings.propagation_chunk = args.chunk
        runner.start()
        stroke = np.zeros((height, width), bool)
        stroke[height // 4 : height // 2, width // 4 : width // 2] = True
        runner.submit_brush(0, 1, stroke).wait(60)
        runner.cancel_all()
        runner.wait_idle(600)

        first: list[float] = []
        notices = [0]
        lock = threading.Lock()

        def on_store(event: object) -> None:
            if type(event).__name__ == "LayerWritten" and getattr(event, "layer", "") == "masks":
                with lock:
                    notices[0] += 1
                    if not first:
                        first.append(time.perf_counter())

        def on_runner(event: object) -> None:
            if hasattr(event, "frames") and getattr(event, "layer", "") == "masks":
                with lock:
                    notices[0] += len(event.frames)  # type: ignore[attr-defined]

        project.events.subscribe(on_store)
        runner.subscribe(on_runner)
        to_first, to_done, per_frame = [], [], []
        for _ in range(args.repeats):
            first.clear()
            notices[0] = 0
            t = time.perf_counter()
            handle = runner.submit_propagate(0, "forward")
            handle.wait(3600)
            done = time.perf_counter()
            runner.cancel_all()  # the downstream re-run the commit queued
            runner.wait_idle(3600)
            to_first.append((first[0] - t) if first else float("nan"))
            to_done.append(done - t)
            per_frame.append(notices[0] / (args.frames - 1))
        runner.stop()
        project.close()
    print(f"{width}x{height}, {args.frames} frames, chunk {args.chunk}, {args.repeats} repeats (median):")
    print(f"  first streamed frame stored  {statistics.median(to_first) * 1000:8.0f} ms")
    print(f"  propagation journalled       {statistics.median(to_done) * 1000:8.0f} ms "
          f"({(args.frames - 1) / statistics.median(to_done):.1f} frames/s)")
    print(f"  masks notifications / frame  {statistics.median(per_frame):8.2f}")


if __name__ == "__main__":
    main()
