"""Camera-estimation error of `models.classical.camera.estimate_camera` on the demo generator.

The generator knows each frame's true camera (centre and zoom on the plate, eased between the
shot's start and end cameras), so the estimate can be judged in pixels: each frame's transform
relative to the shot's first frame, applied to a grid over the frame, against the truth.
Flash and impact frames are left out of the error (they are unmatchable by design) but stay in
the shot, so a flash that derails the frames after it still shows.

Run: ``.venv/bin/python benchmarks/align.py [--seeds 8] [--shots 4] [--iou]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import generate_shots
from app.demo.plan import ShotPlan
from models.classical.camera import estimate_camera


def true_transform(plan: ShotPlan, local: int, width: int, height: int) -> np.ndarray:
    """Frame-to-plate matrix of one generated frame (the inverse of the generator's view)."""
    cam = plan.camera_at(local)
    cx, cy, z = cam.cx, cam.cy, cam.zoom
    return np.array([[1 / z, 0.0, cx - width / (2 * z)], [0.0, 1 / z, cy - height / (2 * z)], [0.0, 0.0, 1.0]])


def shot_errors(est: list[np.ndarray], truth: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """Mean displacement error (frame pixels) of each frame relative to frame 0."""
    xs, ys = np.meshgrid(np.linspace(0, width - 1, 9), np.linspace(0, height - 1, 5))
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    out = []
    for e, t in zip(est, truth, strict=True):
        pe = np.linalg.inv(est[0]) @ e @ pts
        pt = np.linalg.inv(truth[0]) @ t @ pts
        out.append(float(np.hypot(*(pe - pt)[:2]).mean()))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--sizes", default="480x270,640x360")
    ap.add_argument("--iou", action="store_true", help="also segment IoU (slow)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        errs, worst, ious, t_est, n_est = [], [], [], 0.0, 0
        for seed in range(args.seeds):
            video = generate_shots(seed, width=w, height=h, shots=args.shots, frames_per_shot=args.frames)
            for k, plan in enumerate(video.shots):
                truth = [video.frame(i) for i in range(plan.start, plan.start + plan.length)]
                frames = [f.image for f in truth]
                t0 = time.perf_counter()
                est = estimate_camera(frames)
                t_est += time.perf_counter() - t0
                n_est += len(frames)
                tt = [true_transform(plan, i, w, h) for i in range(plan.length)]
                e = shot_errors(est, tt, w, h)
                normal = np.array([f.kind == "normal" for f in truth])
                errs.extend(e[normal])
                worst.append(float(e[normal].max()))
                line = f"  seed {seed} shot {k}: mean {e[normal].mean():6.2f} max {e[normal].max():6.2f}"
                if args.iou:
                    from models.classical.segmentation import ClassicalSegmenter

                    out = ClassicalSegmenter().segment_shot(frames)
                    v = []
                    for s, f in zip(out, truth, strict=True):
                        if f.kind == "normal":
                            a, b = s.labels > 0, f.labels > 0
                            v.append((a & b).sum() / max(1, (a | b).sum()))
                    ious.append(float(np.mean(v)))
                    line += f" IoU {ious[-1]:.3f}"
                if args.verbose:
                    print(line)
        ea, wa = np.array(errs), np.array(worst)
        msg = (f"{size}: camera error mean {ea.mean():.2f} px, median {np.median(ea):.2f}, max {ea.max():.1f}; "
               f"shots with max > 2 px: {(wa > 2).sum()}/{len(wa)}; {n_est / t_est:.1f} frames/s")
        if ious:
            msg += f"; segment IoU mean {np.mean(ious):.3f}, min {np.min(ious):.3f}"
        print(msg, flush=True)


if __name__ == "__main__":
    main()
