"""The segment stage alone on generated shots, with the error split into false and missed pixels.

Calls `ClassicalSegmenter.segment_shot` on each true shot of the demo generator (the generator's
frames as they are: no mp4, no cut detector, no propagation, so a change to the segment stage is
seen without the rest of the pipeline's noise) and prints per shot: foreground IoU (every character
together), false foreground and missed foreground as shares of the true positives, per-character
IoU after one-to-one matching (`app.eval.layers.match_shot`) and objects per character; then the
means and the process's CPU seconds (they hardly move with the machine's load; wall time does).

Usage: ``python benchmarks/segment_generated.py [--seeds 11,12,13,14]`` (the tuning seeds of
`celstudio eval layers`; about 40 CPU seconds for four seeds). Never run it on the held-out seeds
while tuning.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import generate_shots
from app.eval.layers import match_shot
from models.classical.segmentation import ClassicalSegmenter


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="11,12,13,14")
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--height", type=int, default=216)
    args = ap.parse_args(argv)
    seg = ClassicalSegmenter()
    fg_ious: list[float] = []
    char_ious: list[float] = []
    fragments = characters = 0
    started = time.process_time()
    for seed in (int(s) for s in args.seeds.split(",")):
        video = generate_shots(seed, width=args.width, height=args.height, shots=3, frames_per_shot=10)
        for plan in video.shots:
            truth = [video.frame(i) for i in range(plan.start, plan.start + plan.length)]
            out = seg.segment_shot([t.image for t in truth])
            pred = [o.labels for o in out]
            labels = [t.labels for t in truth]
            text = [{k for k, v in o.kinds.items() if v == "text"} for o in out]
            tp = sum(int(((p > 0) & (t > 0)).sum()) for p, t in zip(pred, labels, strict=True))
            fp = sum(int(((p > 0) & (t == 0)).sum()) for p, t in zip(pred, labels, strict=True))
            fn = sum(int(((p == 0) & (t > 0)).sum()) for p, t in zip(pred, labels, strict=True))
            match = match_shot(pred, labels, text)
            fg_ious.append(tp / max(1, tp + fp + fn))
            char_ious += list(match.iou.values())
            fragments += sum(match.fragments.values())
            characters += len(match.iou)
            print(f"seed {seed} shot at {plan.start:3d}: foreground IoU {fg_ious[-1]:.3f}, false "
                  f"{fp / max(1, tp):.2f} / missed {fn / max(1, tp):.2f} of true, character IoU "
                  f"{[round(v, 2) for v in match.iou.values()]}, objects {sum(match.fragments.values())}"
                  f"/{len(match.iou)}", flush=True)
    print(f"mean: foreground IoU {np.mean(fg_ious):.3f}, character IoU {np.mean(char_ious):.3f}, "
          f"fragmentation {fragments / max(1, characters):.2f}, {time.process_time() - started:.0f} CPU s")


if __name__ == "__main__":
    main()
