"""Per-stage speed of the weight-free pipeline, click-to-mask latency and propagation speed.

Prints a table. Usage: ``python benchmarks/pipeline.py [--sizes 480,1080] [--frames 12] [--deep cuda]``.
Runs on generated anime shots (app.demo), so no data is needed. ``--deep DEVICE`` runs the stages
with the deep backends at real size and random weights (XMem, IS-Net, CLIPSeg, LaMa, CLIP+DINOv2, built
as `gpu_models.py` builds them) on DEVICE, segment staying weight-free: random Mask2Former weights find
no character, and every later stage needs masks. It shows what the stage code around each network
costs once the network runs on a GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import generate_shots
from app.demo.project import create_demo_project
from app.pipeline.graph import ROLE_OF_STAGE, STAGES
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project
from models.base import Prompt

SIZES = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


DEEP = {"propagator": ("xmem", "xmem"), "matter": ("isnet", "isnet"), "effects": ("clipseg", "clipseg"),
        "inpainter": ("lama", "lama"), "annotator": ("clip", "clip")}  # role: (registry name, gpu_models name)


def deep_runner(project: Project, device: str, tmp: Path) -> PipelineRunner:
    """A runner whose deep roles are preset with real-size random-weight backends on ``device``."""
    from gpu_models import build  # a sibling script

    backends = {role: build(model, device, tmp) for role, (_, model) in DEEP.items()}
    settings = PipelineSettings(backends={role: name for role, (name, _) in DEEP.items()}, device=device)
    return PipelineRunner(project, settings, backends)


def stage_speeds(size: int, frames: int, deep: str = "") -> None:
    width, height = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        project = create_demo_project(Path(tmp) / "b", seed=7, width=width, height=height, shots=1, frames_per_shot=frames)
        runner = (deep_runner(project, deep, Path(tmp)) if deep else PipelineRunner(project)).start()
        on_gpu = deep.startswith("cuda")
        proc = psutil.Process()
        for stage in STAGES:
            if on_gpu:
                import torch

                torch.cuda.reset_peak_memory_stats()
            cpu0 = sum(proc.cpu_times()[:2])
            t0 = time.perf_counter()
            runner.submit_run([stage]).wait()
            runner.wait_idle(3600)
            wall = time.perf_counter() - t0
            cpu = (sum(proc.cpu_times()[:2]) - cpu0) / wall / (psutil.cpu_count() or 1) * 100
            backend = runner.settings.backend_name(ROLE_OF_STAGE[stage])
            gpu = f"   peak GPU {torch_peak_mb():6.0f} MB" if on_gpu else ""
            print(f"{size}p  {stage:<10} {backend:<10} {frames / wall:7.2f} frames/s   "
                  f"CPU {cpu:5.1f}% of {psutil.cpu_count()} cores{gpu}", flush=True)
        runner.stop()
        project.close()


def torch_peak_mb() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def click_latency(repeats: int) -> None:
    from models.classical.clicks import RegionClicker

    video = generate_shots(3, width=1920, height=1080, shots=1, frames_per_shot=repeats)
    clicker = RegionClicker()
    times = []
    for frame in video:
        obj = frame.objects[0] if frame.objects else 1
        truth = frame.labels == obj
        prior = np.roll(truth, 25, axis=1)  # a prior that is off by a shift, as a propagated mask might be
        ys, xs = np.nonzero(truth & ~prior)
        if len(xs) == 0:
            continue
        k = len(xs) // 2
        t0 = time.perf_counter()
        clicker.predict(f"b{frame.index}", frame.image, Prompt(points=((float(xs[k]), float(ys[k]), True),)), prior)
        times.append((time.perf_counter() - t0) * 1000)
    if times:
        print(f"1080p click-to-mask (classical)  p50 {np.percentile(times, 50):6.1f} ms  p95 {np.percentile(times, 95):6.1f} ms  (n={len(times)})")


def propagation_speed(frames: int) -> None:
    from models.classical.propagation import FlowPropagator

    video = generate_shots(5, width=854, height=480, shots=1, frames_per_shot=frames)
    images = [f.image for f in video]
    seed = video.frame(0).labels
    prop = FlowPropagator()
    t0 = time.perf_counter()
    prop.propagate(images, {0: seed}, "forward")
    wall = time.perf_counter() - t0
    print(f"480p propagation (classical)    {(frames - 1) / wall:6.2f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="480,1080")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--deep", default="", help="a device: the deep backends (random weights) run there")
    args = parser.parse_args()
    print(f"CPU: {psutil.cpu_count()} cores, {os.uname().machine}")
    if not args.skip_stages:
        for size in (int(s) for s in args.sizes.split(",")):
            stage_speeds(size, args.frames, args.deep)
    click_latency(12)
    propagation_speed(25)


if __name__ == "__main__":
    main()
