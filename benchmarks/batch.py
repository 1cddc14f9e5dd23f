"""`celstudio batch` throughput with 1 and 2 worker processes side by side, and Ray's overhead against a
local `celstudio run` of one episode with the same CPUs.

Episodes are generated clips (H.264, hard cuts) imported once; imports are not timed. Every timed run
starts from the same imported, unprocessed projects. The local run uses the runner's default (one
thread per core for the weight-free per-frame stages); the batch gives each worker process one CPU.
Ray itself is started once before the timed runs (its start-up is printed separately: on a season it
is paid once), and the batches keep their workers warm between runs (`WorkerPool`), so the one-episode
comparison measures what a batch costs beyond the computation once its processes run; the workers'
start-up (paid once per batch) is printed on its own. Local and batch runs alternate over ``--rounds``
rounds and the fastest of each counts (the machine is shared). Besides wall time, the CPU seconds
each used (this process and every process under it: Ray's daemons, the workers, the writers) measure
the overhead in a way the machine's load inflates far less. The batch results are checked to equal
the local run's.

Run: ``.venv/bin/python benchmarks/batch.py [--episodes 3] [--shots 3] [--frames 10] [--size 320x180]``

``--writer 1920x1080`` instead times what does not scale with workers, for one shot at that size: the
project's writer reading a shot package (decoding its frames), registering its segmented tracks and
applying a worker's results, against one worker computing the shot (the actors' code, no Ray needed).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.batch.clips import write_generated_clip
from app.batch.driver import BatchOptions, BatchRun, BatchSummary, WorkerPool
from app.batch.verify import digest_differences, project_digest
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project


def cpu_times() -> dict[int, float]:
    """CPU seconds so far of this process and every process under it (Ray's daemons, warm workers)."""
    out: dict[int, float] = {}
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def cpu_used(before: dict[int, float]) -> float:
    """CPU seconds used since ``before`` by the processes alive then and now (a batch's writers,
    started and ended within it, are added from its own summary)."""
    now = cpu_times()
    return sum(now[pid] - t for pid, t in before.items() if pid in now)


def imported(clips: Path, where: Path) -> Path:
    """The episodes imported (not run) into ``where``."""
    BatchRun([clips], where, BatchOptions(stages=[])).run()
    return where


def timed_batch(template: Path, clips: Path, where: Path, workers: int, warm: WorkerPool) -> BatchSummary:
    shutil.copytree(template, where)
    return BatchRun([clips], where, BatchOptions(workers=workers), warm=warm).run()


def local_run(template: Path, name: str, where: Path, threads: int) -> float:
    shutil.copytree(template / name, where)
    with Project.open(where) as project:
        runner = PipelineRunner(project, PipelineSettings(workers=threads)).start()
        t = time.perf_counter()
        runner.submit_run().wait()
        runner.wait_idle(3600)
        seconds = time.perf_counter() - t
        runner.stop()
    return seconds


def writer_costs(size: str, frames: int) -> None:
    from app.batch.worker import ShotWorker
    from app.batch.writer import ProjectWriter
    from app.ingest.importer import import_source
    from app.pipeline.graph import STAGES

    w, h = (int(v) for v in size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="celstudio-writer-bench-"))
    try:
        clip = write_generated_clip(tmp / "shot.mp4", 9, width=w, height=h, shots=1, frames_per_shot=frames)
        import_source(clip, tmp / "p").close()
        writer, worker = ProjectWriter(str(tmp / "p"), {}), ShotWorker(cpus=1)  # the actors' code, without Ray
        try:
            t = time.perf_counter()
            package = writer.read(0)
            read_s = time.perf_counter() - t
            t = time.perf_counter()
            _, capture = worker.segment(package)
            segment_s = time.perf_counter() - t
            t = time.perf_counter()
            writer.register(0, capture)
            register_s = time.perf_counter() - t
            t = time.perf_counter()
            later = writer.read(0, frames=False)
            read_s += time.perf_counter() - t
            t = time.perf_counter()
            _, ops = worker.run(later, list(STAGES[1:]), package)
            compute_s = segment_s + time.perf_counter() - t
            t = time.perf_counter()
            writer.apply(ops)
            apply_s = time.perf_counter() - t
        finally:
            writer.close()
        mb = sum(op.array.nbytes for op in ops if op.array is not None) / 1e6
        raw = sum(f.nbytes for f in package.frames.values()) / 1e6
        n = len(package.frames)
        busy = read_s + register_s + apply_s
        print(f"one shot of {n} frames at {w}x{h}: worker compute {compute_s / n:.2f} s/frame (1 CPU; segment "
              f"{segment_s / n:.2f}); writer read {1000 * read_s / n:.0f} ms/frame ({raw / n:.1f} MB of frames sent), "
              f"register {1000 * register_s / n:.0f} ms/frame, apply {1000 * apply_s / n:.0f} ms/frame ({mb / n:.1f} MB "
              f"of results returned); one writer keeps up with {compute_s / busy:.0f} workers")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--frames", type=int, default=10, help="frames per shot")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--rounds", type=int, default=2, help="alternating local/batch rounds of the one-episode comparison")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--writer", metavar="WxH", help="time the driver's read/apply against compute at this size instead")
    args = ap.parse_args()
    if args.writer:
        writer_costs(args.writer, args.frames)
        return
    w, h = (int(v) for v in args.size.split("x"))
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="celstudio-batch-bench-"))
    try:
        clips = tmp / "clips"
        for i in range(args.episodes):
            write_generated_clip(clips / f"ep{i + 1:02d}.mp4", 300 + i, width=w, height=h, shots=args.shots,
                                 frames_per_shot=args.frames)
        template = imported(clips, tmp / "template")
        one = tmp / "one"
        one_clip = one / "clips"
        one_clip.mkdir(parents=True)
        shutil.copy(clips / "ep01.mp4", one_clip / "ep01.mp4")
        one_template = imported(one_clip, one / "template")

        cores = os.cpu_count() or 1
        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        ray_start = time.perf_counter() - t
        warm = WorkerPool()  # workers started by the first batch of each size are re-used by the later ones
        rows = []
        for workers in (1, 2):
            s = timed_batch(template, clips, tmp / f"batch{workers}", workers, warm)
            rows.append((workers, s))
        local_run(one_template, "ep01", tmp / "warm-up", threads=2)  # imports and JIT, as a worker's start-up does
        # Local and batch back to back, alternating, several rounds: the machine's load drifts, the
        # fastest of each is the least disturbed.
        best: dict[str, float] = {}
        for r in range(args.rounds):
            for cpus in (2, 1):
                before = cpu_times()
                t_local = local_run(one_template, "ep01", tmp / f"local{cpus}-{r}", threads=cpus)
                cpu_local = cpu_used(before)
                before = cpu_times()
                b = timed_batch(one_template, one_clip, tmp / f"one-batch{cpus}-{r}", cpus, warm)
                cpu_batch = cpu_used(before) + b.writers_cpu_s
                for key, value in ((f"local{cpus}", t_local), (f"batch{cpus}", b.seconds),
                                   (f"cpu-local{cpus}", cpu_local), (f"cpu-batch{cpus}", cpu_batch)):
                    best[key] = min(best.get(key, 1e9), value)
        warm.close(ray)
        ray.shutdown()
        same = digest_differences(project_digest(tmp / "local2-0"), project_digest(tmp / "one-batch2-0" / "ep01")) == []

        print(f"{args.episodes} episodes x {args.shots} shots x {args.frames} frames at {w}x{h}; {cores} cores; "
              f"Ray start-up {ray_start:.1f} s (once per batch)")
        print("\n| worker processes | frames | wall s | start-up s | frames/s | speed-up | worker compute s | of which segment s "
              "| writers: register s | read s | apply s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        base = rows[0][1].frames_per_s
        for workers, s in rows:
            print(f"| {workers} | {s.frames} | {s.seconds:.1f} | {s.startup_s:.1f} | {s.frames_per_s:.2f} | {s.frames_per_s / base:.2f}x | "
                  f"{s.compute_s:.1f} | {s.segment_s:.1f} | {s.register_s:.1f} | {s.read_s:.2f} | {s.apply_s:.2f} |")
        print(f"\none episode ({args.shots * args.frames} frames), warm workers, fastest of {args.rounds} alternating rounds:")
        print("\n| one episode | local `celstudio run` s | batch s | Ray overhead (wall) | local CPU s | batch CPU s | Ray overhead (CPU) |")
        print("|---|---|---|---|---|---|---|")
        for label, cpus in (("2 CPUs (2 threads / 2 workers)", 2), ("1 CPU (1 thread / 1 worker)", 1)):
            local, batch = best[f"local{cpus}"], best[f"batch{cpus}"]
            c_local, c_batch = best[f"cpu-local{cpus}"], best[f"cpu-batch{cpus}"]
            print(f"| {label} | {local:.1f} | {batch:.1f} | {100 * (batch - local) / local:+.1f} % | {c_local:.1f} | "
                  f"{c_batch:.1f} | {100 * (c_batch - c_local) / c_local:+.1f} % |")
        print(f"\nworker start-up (paid once per batch, by its first worker; cold, in the first throughput run): "
              f"{rows[0][1].startup_s:.1f} s")
        per_frame = rows[-1][1].compute_s / max(rows[-1][1].frames, 1)
        writer = (rows[-1][1].read_s + rows[-1][1].apply_s + rows[-1][1].register_s) / max(rows[-1][1].frames, 1)
        print(f"\nper frame: {per_frame * 1000:.0f} ms of worker compute (1 CPU), {writer * 1000:.1f} ms of writer "
              f"register + read + apply; batch equals the local run: {same} (needs a pipeline deterministic on the clip)")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
