"""Identity across shots: how often stage-1 registration gives a character the same object in every shot.

Generated multi-shot clips; each shot's tracks are the generator's true characters (whole, with ids
restarting at 1 in every shot, in a shot-dependent order), registered shot after shot through
`app.pipeline.register.register_shot` - the code a run uses. A character's object is the one its
first track got; accuracy is the share of later-shot tracks registered to that object, and false
merges count tracks of two characters given one object.

    python benchmarks/identity.py 100 120        # seeds 100..119 (never used for tuning)

Tuning used onepiece_demo.mp4 and seed 31 only (the link threshold and the band weights).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from app.demo.generator import generate_shots
from app.pipeline.register import register_shot
from app.store import Manifest, Project, Shot, SourceInfo

W, H, SHOTS, PER_SHOT = 320, 180, 4, 12


def run_seed(seed: int, root: Path) -> dict[str, int]:
    video = generate_shots(seed, width=W, height=H, shots=SHOTS, frames_per_shot=PER_SHOT, cast_size=3)
    n = SHOTS * PER_SHOT
    shots = [Shot(i * PER_SHOT, (i + 1) * PER_SHOT) for i in range(SHOTS)]
    project = Project.create(root, Manifest("b", SourceInfo("generated", "", str(seed)), n, W, H, 24.0, shots=shots))
    frames = [video.frame(i) for i in range(n)]
    for g in frames:
        project.media.write_frame(g.index, g.image)
    first: dict[int, int] = {}
    right = total = merged = 0
    with project:
        for s, shot in enumerate(shots):
            part = frames[shot.start:shot.end]
            present = sorted({int(i) for g in part for i in np.unique(g.labels) if i and (g.labels == i).sum() > 150})
            order = present[::-1] if s % 2 else present
            track = {cid: k + 1 for k, cid in enumerate(order)}
            labels = []
            for g in part:
                lab = np.zeros((H, W), np.uint8)
                for cid, t in track.items():
                    lab[g.labels == cid] = t
                labels.append(lab)
            links = register_shot(project, shot, labels, [dict.fromkeys(track.values(), "character")] * len(part),
                                  [g.image for g in part])
            got = {cid: links[t] for cid, t in track.items()}
            for cid, oid in got.items():
                if cid in first:
                    total += 1
                    right += int(first[cid] == oid)
                else:
                    first.setdefault(cid, oid)
            # another character's object: worse than a new object (the user must split, not merge)
            merged += sum(1 for cid, oid in got.items() if any(first[c] == oid for c in first if c != cid))
    return {"later_tracks": total, "same_object": right, "false_merges": merged, "characters": len(first)}


def main(lo: int, hi: int) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(lo, hi):
            results[seed] = run_seed(seed, Path(tmp) / str(seed))
    total = sum(r["later_tracks"] for r in results.values())
    right = sum(r["same_object"] for r in results.values())
    print(json.dumps({"seeds": [lo, hi - 1], "identity_accuracy": round(right / max(1, total), 3),
                      "later_tracks": total, "false_merges": sum(r["false_merges"] for r in results.values()),
                      "per_seed": results}, indent=1))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100, int(sys.argv[2]) if len(sys.argv) > 2 else 120)
