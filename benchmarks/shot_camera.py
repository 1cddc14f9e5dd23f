"""The segment stage before and after the shot's one camera analysis: foreground IoU with the
generator's exact truth when the weight-free segmenter estimates its own camera untimed (before: it
got no frame times), when it is handed the shot's analysed camera estimate and the drawings' frame
indices (after, as the pipeline now does), and, for comparison, the ECC-refined camera the stitching
stages read. Generated shots whose drawings are held 1-3 frames (each drawing seen once).

Usage::

    python benchmarks/shot_camera.py [--seeds 3] [--shots 3] [--frames 12] [--width 480] [--height 270]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from app.demo.generator import generate_shots
from app.pipeline.stages.shot import analyse_shot
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
    scores: dict[str, list[float]] = {"before": [], "after": [], "refined": []}
    seconds = dict.fromkeys(scores, 0.0)
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
            results = {"before": ClassicalSegmenter(workers=1).segment_shot(frames)}
            seconds["before"] += time.perf_counter() - t
            t = time.perf_counter()
            estimate, refined = analyse_shot(frames, times)
            analysis = time.perf_counter() - t
            for name, camera in (("after", estimate), ("refined", refined)):
                t = time.perf_counter()
                results[name] = ClassicalSegmenter(workers=1).segment_shot(frames, transforms=camera, times=times)
                seconds[name] += time.perf_counter() - t + analysis
            line = []
            for name, out in results.items():
                ious = [_iou(r.labels > 0, m) for r, m in zip(out, truth, strict=True)]
                scores[name] += ious
                line.append(f"{name} {np.mean(ious):.3f}")
            print(f"seed {seed} shot {shot}: foreground IoU with truth: " + ", ".join(line), flush=True)
    print(f"mean over {len(scores['before'])} drawings: " + ", ".join(
        f"{name} {np.mean(v):.3f} (min {min(v):.3f})" for name, v in scores.items()))
    print("seconds (analysis + segmenter; the analysis then serves matte, effects and inpaint too): " + ", ".join(
        f"{name} {v:.1f}" for name, v in seconds.items()))


if __name__ == "__main__":
    main()
