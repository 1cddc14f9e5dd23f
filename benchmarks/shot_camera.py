"""The segment stage before and after the shot's one camera analysis: foreground IoU with the
generator's exact truth when the weight-free segmenter estimates its own camera (before) and when it
is handed the shot's analysed camera (after, as the pipeline now does), on generated shots whose
drawings are held 1-3 frames (the segmenter sees each drawing once, timed by its frame index).

Usage::

    python benchmarks/shot_camera.py [--seeds 3] [--shots 3] [--frames 12] [--width 480] [--height 270]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from app.demo.generator import generate_shots
from app.pipeline.stages.shot import analyse_camera
from models.classical.segmentation import ClassicalSegmenter


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--frames", type=int, default=12, help="drawings per shot")
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=270)
    args = parser.parse_args()
    before: list[float] = []
    after: list[float] = []
    seconds = {"before": 0.0, "after": 0.0}
    for seed in range(args.seeds):
        video = generate_shots(seed, width=args.width, height=args.height, shots=args.shots,
                               frames_per_shot=args.frames)
        rng = np.random.default_rng(seed)
        for shot, start in enumerate(video.shot_starts):
            drawings = [video.frame(start + i) for i in range(args.frames)]
            # Frame index of each drawing as if it were held 1-3 frames (anime on ones, twos, threes).
            times = np.cumsum([0] + [int(rng.integers(1, 4)) for _ in drawings[1:]]).tolist()
            frames = [d.image for d in drawings]
            truth = [d.labels > 0 for d in drawings]
            t = time.perf_counter()
            own = ClassicalSegmenter(workers=1).segment_shot(frames, times=times)
            seconds["before"] += time.perf_counter() - t
            t = time.perf_counter()
            camera = analyse_camera(frames, times)
            shared = ClassicalSegmenter(workers=1).segment_shot(frames, transforms=camera, times=times)
            seconds["after"] += time.perf_counter() - t
            b = [_iou(r.labels > 0, m) for r, m in zip(own, truth, strict=True)]
            a = [_iou(r.labels > 0, m) for r, m in zip(shared, truth, strict=True)]
            before += b
            after += a
            print(f"seed {seed} shot {shot}: foreground IoU with truth {np.mean(b):.3f} own camera, "
                  f"{np.mean(a):.3f} shot camera")
    print(f"mean over {len(before)} drawings: {np.mean(before):.3f} own camera (before), "
          f"{np.mean(after):.3f} shot camera (after); min {min(before):.3f} / {min(after):.3f}")
    print(f"time: {seconds['before']:.1f} s segmenter with its own camera, {seconds['after']:.1f} s analysis + "
          "segmenter (the analysis is then shared with matte, effects and inpaint)")


if __name__ == "__main__":
    main()
