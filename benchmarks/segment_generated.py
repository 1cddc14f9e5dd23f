"""The segment stage alone on generated shots, with the error split into false and missed pixels.

Calls `ClassicalSegmenter.segment_shot` on each true shot of the demo generator (the generator's
frames as they are: no mp4, no cut detector, no propagation, so a change to the segment stage is
seen without the rest of the pipeline's noise) and prints per shot: foreground IoU (every character
together), false foreground and missed foreground as shares of the true positives, per-character
IoU after one-to-one matching (`app.eval.layers.match_shot`) and objects per character; then the
means and the process's CPU seconds (they hardly move with the machine's load; wall time does);
then where character IoU is lost, as shares of the true characters' pixels: pixels of a character's
matched object that are, in truth, background lit by an effect (a glow, speed lines), the soft edge
of a character (alpha under one half), plain background, other background, or another character;
and the character's pixels missed (background) or on another predicted object (a merge, a split, a
boundary between two characters in the wrong place). Last, the objects that hold at least a quarter
of two true characters in every drawing where both show (a character hidden behind its neighbour,
on the neighbour's object throughout: `holding_two`), and the share of the loss "another character"
that lies on them.

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

from app.demo.generator import GeneratedFrame, generate_shots
from app.eval.layers import ShotMatch, match_shot
from app.pipeline.stages.segment import REFINEMENTS, refine_labels
from app.pipeline.stages.shot import analyse_shot
from models.classical.segmentation import ClassicalSegmenter


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="11,12,13,14")
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--height", type=int, default=216)
    ap.add_argument("--no-plate-check", action="store_true", help="leave out the segment stage's plate check")
    ap.add_argument("--no-outline-snap", action="store_true", help="leave out the masks' snap to their outlines")
    ap.add_argument("--no-borders", action="store_true", help="leave out the border between characters settled by colour")
    ap.add_argument("--no-closed-cells", action="store_true", help="leave out the closed cells joined to characters")
    ap.add_argument("--no-box-blocks", action="store_true", help="leave out the box blocks cut from characters")
    ap.add_argument("--no-outline-reach", action="store_true", help="leave out the masks grown onto a faint outline")
    ap.add_argument("--no-ink-borders", action="store_true", help="leave out the border between characters moved onto their ink")
    ap.add_argument("--backtrack", action="store_true", help="with the backward tracking pass (off by default)")
    args = ap.parse_args(argv)
    seg = ClassicalSegmenter(backtrack=args.backtrack)
    left_out = {"plate check": args.no_plate_check, "outline snap": args.no_outline_snap,
                "borders": args.no_borders, "closed cells": args.no_closed_cells, "box blocks": args.no_box_blocks,
                "outline reach": args.no_outline_reach, "ink borders": args.no_ink_borders}
    skip = {step for step in REFINEMENTS if left_out[step]}
    fg_ious: list[float] = []
    char_ious: list[float] = []
    fragments = characters = 0
    losses: dict[str, int] = dict.fromkeys(LOSSES, 0)
    both: list[str] = []  # objects holding two characters throughout, as seed@shot:object
    both_px = 0  # the loss "another character" on them (on their matched character's side)
    started = time.process_time()
    for seed in (int(s) for s in args.seeds.split(",")):
        video = generate_shots(seed, width=args.width, height=args.height, shots=3, frames_per_shot=10)
        for plan in video.shots:
            truth = [video.frame(i) for i in range(plan.start, plan.start + plan.length)]
            images = [t.image for t in truth]
            times = list(range(len(images)))
            # As the segment stage runs it: the shot's camera first (the segmenter reads its estimate),
            # then the stage's second look at the labels (`refine_labels`, through the refined camera).
            estimate, refined = analyse_shot(images, times)
            out = seg.segment_shot(images, transforms=estimate, times=times)
            pred = refine_labels(images, [o.labels for o in out], [dict(o.kinds) for o in out], refined, skip)
            labels = [t.labels for t in truth]
            text = [{k for k, v in o.kinds.items() if v == "text"} for o in out]
            tp = sum(int(((p > 0) & (t > 0)).sum()) for p, t in zip(pred, labels, strict=True))
            fp = sum(int(((p > 0) & (t == 0)).sum()) for p, t in zip(pred, labels, strict=True))
            fn = sum(int(((p == 0) & (t > 0)).sum()) for p, t in zip(pred, labels, strict=True))
            match = match_shot(pred, labels, text)
            for p, t, tx in zip(pred, truth, text, strict=True):
                _split_errors(np.where(np.isin(p, list(tx)), 0, p), t, match, losses)  # text is no character
            two = holding_two(pred, labels, text)
            both += [f"{seed}@{plan.start}:{oid}" for oid in two]
            both_px += sum(int(((p == pid) & (t > 0) & (t != tid)).sum()) for tid, pid in match.matched.items()
                           if pid in two for p, t in zip(pred, labels, strict=True))
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
    true_px = max(1, losses.pop("true"))
    print("where character IoU is lost (pixels, share of the true characters' pixels): "
          + ", ".join(f"{k} {v / true_px:.3f}" for k, v in losses.items()))
    print(f"objects holding {HOLDS:.0%} of two characters in every drawing: {len(both)} {both}, "
          f"another character on them {both_px / true_px:.4f} (of {losses['false: another character'] / true_px:.4f})")


LOSSES = ("true", "false: effect light", "false: soft edge", "false: plain background", "false: other background",
          "false: another character", "missed: background", "missed: another object")


HOLDS = 0.25  # share of a true character an object holds, at least, to hold that character
SHOWN = 100  # px: a true character smaller than this in a drawing does not show there
MIN_BOTH = 3  # drawings where both characters show, at least


def holding_two(pred: list[np.ndarray], labels: list[np.ndarray], text: list[set[int]]) -> list[int]:
    """The predicted objects of one shot that hold `HOLDS` or more of each of two true characters in
    every drawing where both show (`MIN_BOTH` or more); text objects left out. Such an object is two
    characters throughout: no drawing of the shot parts them."""
    tids = sorted(set().union(*(set(np.unique(t).tolist()) for t in labels)) - {0})
    out = []
    for oid in sorted(set().union(*(set(np.unique(p).tolist()) for p in pred)) - {0} - set().union(*text)):
        held: dict[int, list[bool | None]] = {tid: [] for tid in tids}  # per drawing; None where it does not show
        for p, t in zip(pred, labels, strict=True):
            mine = p == oid
            for tid in tids:
                own = t == tid
                n, on = int(own.sum()), int((own & mine).sum())
                held[tid].append(on >= HOLDS * n if n >= SHOWN else None)
        if any(_throughout(held[a], held[b]) for k, a in enumerate(tids) for b in tids[k + 1:]):
            out.append(oid)
    return out


def _throughout(a: list[bool | None], b: list[bool | None]) -> bool:
    """Whether both characters are held in every drawing where both show, and both show in `MIN_BOTH` or more."""
    both = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return len(both) >= MIN_BOTH and all(x and y for x, y in both)


def _split_errors(pred: np.ndarray, truth: GeneratedFrame, match: ShotMatch, losses: dict[str, int]) -> None:
    """Add one frame's errors of the matched objects to ``losses``, by what the wrong pixels are in
    truth: pixels of a character's matched object that are background lit by an effect (glow, speed
    lines), the soft edge of some character (alpha under one half), plain background (the plate as
    the camera sees it), other background, or another character; and the character's pixels that
    are missed (background) or on another predicted object (a merge, a split, a boundary between
    two characters drawn in the wrong place)."""
    light = truth.effects > 0.05
    soft = (truth.alpha > 0.02) & ~light
    plain = (np.abs(truth.image.astype(np.int16) - truth.clean.astype(np.int16)).sum(axis=2) < 12) & ~light & ~soft
    for tid, pid in match.matched.items():
        own, mine = truth.labels == tid, pred == pid
        losses["true"] += int(own.sum())
        wrong = mine & (truth.labels == 0)
        losses["false: effect light"] += int((wrong & light).sum())
        losses["false: soft edge"] += int((wrong & soft).sum())
        losses["false: plain background"] += int((wrong & plain).sum())
        losses["false: other background"] += int((wrong & ~light & ~soft & ~plain).sum())
        losses["false: another character"] += int((mine & (truth.labels > 0) & ~own).sum())
        losses["missed: background"] += int((own & (pred == 0)).sum())
        losses["missed: another object"] += int((own & (pred > 0) & ~mine).sum())
    for tid in set(match.iou) - set(match.matched):  # unmatched: all of it is on something else or missed
        own = truth.labels == tid
        losses["true"] += int(own.sum())
        losses["missed: background"] += int((own & (pred == 0)).sum())
        losses["missed: another object"] += int((own & (pred > 0)).sum())


if __name__ == "__main__":
    main()
