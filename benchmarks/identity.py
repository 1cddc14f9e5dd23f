"""Identity across shots: how often the segment stage's registration gives a character the same object in every shot.

Two modes, both through `app.pipeline.register.register_shot` - the code a run uses:

    python benchmarks/identity.py 100 120        # true tracks: seeds 100..119
    python benchmarks/identity.py segmented 11,12,13,14 --dir /tmp/id_cache [-v]

**True tracks** (registration alone): generated multi-shot clips; each shot's tracks are the
generator's true characters (whole, with ids restarting at 1 in every shot, in a shot-dependent
order). A character's object is the one its first track got; accuracy is the share of later-shot tracks
registered to that object, and false merges count tracks of two characters given one object.

**Segmented** (what `celstudio eval layers` sees): the clip `eval layers` makes of a seed (384x216,
3 shots x 10 frames, H.264) is imported and the segment stage run on it once (kept in ``--dir`` and
reused), then the shot's tracks are registered afresh into an empty project, so registration can be
changed and measured in seconds. Identity is `eval layers`' figure (same-object pairs over pairs of
segments sharing a true character, on the segment stage's labels through the track links; `eval
layers` measures it on the propagate stage's masks); a false merge is an object matched to two true
characters. ``-v`` prints each registration decision: the track, its kind, the true character it
mostly lies on (and that share), its size and presence, the object it got (0: a stray, no object)
and its distance to every known object; then each failed pair.

Tuning used seeds 11-14 and 20-29 (segmented) and 31-45 (true tracks); 100-119 (true tracks, round 1)
and 401-403 (`eval layers`) were not looked at while tuning.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# This checkout's code, not whatever checkout the virtual environment was installed from.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import generate_shots
from app.pipeline.register import RECORD, known_descriptors, register_shot, track_kinds
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.identity import TrackDescriptor, distance

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


# -- segmented: the real segment stage's tracks -----------------------------------------------------


def segmented_project(seed: int, cache: Path) -> Path:
    """The `eval layers` clip of ``seed`` imported and segmented (once; reused from ``cache``)."""
    from app.eval.layers import write_mp4
    from app.ingest.importer import import_source
    from app.pipeline.runner import PipelineRunner, PipelineSettings

    root = cache / f"seed{seed}"
    if (root / "truth.npz").exists():
        return root
    video = generate_shots(seed, width=384, height=216, shots=3, frames_per_shot=10)
    cache.mkdir(parents=True, exist_ok=True)
    clip = cache / f"seed{seed}.mp4"
    write_mp4(video, clip)
    project = import_source(clip, root)
    try:
        runner = PipelineRunner(project, PipelineSettings(backends={})).start()
        runner.submit_run(["segment"]).wait()
        runner.wait_idle(3600)
        runner.stop()
    finally:
        project.close()
    truth = np.stack([video.frame(i).labels for i in range(video.frame_count)])
    np.savez_compressed(root / "truth.npz", labels=truth, starts=np.array(video.shot_starts))
    return root


def replay(root: Path, work: Path, verbose: bool) -> dict[str, Any]:
    """Register ``root``'s segmentation afresh, shot after shot; identity as `eval layers` counts it."""
    from app.eval.layers import identity_pairs, match_shot

    src = Project.open(root, read_only=True)
    data = np.load(root / "truth.npz")
    truth, starts = data["labels"], [int(s) for s in data["starts"]]
    n, h, w = src.frame_count, src.height, src.width
    shots = [Shot(s.start, s.end) for s in src.shots]
    seg: dict[int, np.ndarray] = {}
    lines: list[str] = []
    with Project.create(work, Manifest("r", SourceInfo("generated", "", root.name), n, w, h, 24.0, shots=shots)) as dst:
        for shot in shots:
            keys = src.drawing_keys
            idx = [f for f in range(shot.start, shot.end) if int(keys[f]) == f]
            labels = [lab if (lab := src.layers.read("segmentation", f)) is not None else np.zeros((h, w), np.uint8)
                      for f in idx]
            kinds = [{int(k): str(v) for k, v in src.layers.meta("segmentation", f).get("kinds", {}).items()} for f in idx]
            seg.update(zip(idx, labels, strict=True))
            links = register_shot(dst, shot, labels, kinds, [np.array(src.frame(f)) for f in idx])
            stored = (dst.layers.read_record(RECORD, shot.start) or {}).get("tracks", {})
            for t, kind in track_kinds(labels, kinds).items():
                masks = [lab == t for lab in labels]
                area = sum(int(m.sum()) for m in masks)
                on = np.bincount(np.concatenate([truth[f][m] for f, m in zip(idx, masks, strict=True)]), minlength=256)
                who = int(on[1:].argmax()) + 1 if on[1:].any() else 0
                desc = stored.get(str(t))
                known = known_descriptors(dst, kind, shot.start) if desc else {}
                d = {o: round(min(distance(TrackDescriptor.from_json(desc), x) for x in xs), 3) for o, xs in known.items()}
                present = sum(int(m.any()) for m in masks)
                lines.append(f"  shot {shot.start:3d} track {t:2d} {kind:9s} on character {who} ({on[who] / max(1, area):.2f}) "
                             f"{100 * area / max(1, present) / (h * w):5.2f} % of the frame, {present}/{len(idx)} drawings "
                             f"-> object {links.get(t)}   distances {d}")
        text = {o.id for o in dst.manifest.objects if o.kind == "text"}
        masks_of = {f: dst.objects.to_objects(dst.shot_of(f).start, f, seg[f]) for f in seg}
        objects = len(dst.manifest.objects)
    keys = np.asarray(src.drawing_keys)
    src.close()
    cuts = sorted({*starts, *(s.start for s in shots), n})
    matches = [match_shot([masks_of[int(keys[i])] for i in range(a, b)], [truth[i] for i in range(a, b)], [text] * (b - a))
               for a, b in itertools.pairwise(cuts)]
    same, pairs = identity_pairs(matches)
    owners: dict[int, set[int]] = {}
    for m in matches:
        for tid, pid in m.matched.items():
            owners.setdefault(pid, set()).add(tid)
    if verbose:
        print("\n".join(lines))
        segments = list(itertools.pairwise(cuts))
        for (i, a), (j, b) in itertools.combinations(enumerate(matches), 2):
            for tid in sorted(set(a.iou) & set(b.iou)):
                pa, pb = a.matched.get(tid), b.matched.get(tid)
                if pa is None or pa != pb:
                    print(f"  FAILED character {tid}: frames {segments[i]} object {pa} (IoU {a.iou[tid]:.2f}) | "
                          f"frames {segments[j]} object {pb} (IoU {b.iou[tid]:.2f})")
    return {"same": same, "pairs": pairs, "false_merges": sum(len(v) - 1 for v in owners.values()), "objects": objects}


def main_segmented(seeds: list[int], cache: Path, verbose: bool) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            if verbose:
                print(f"seed {seed}")
            results[seed] = replay(segmented_project(seed, cache), Path(tmp) / str(seed), verbose)
    same, pairs = sum(r["same"] for r in results.values()), sum(r["pairs"] for r in results.values())
    print(json.dumps({"seeds": seeds, "identity": round(same / max(1, pairs), 3), "pairs": pairs,
                      "false_merges": sum(r["false_merges"] for r in results.values()), "per_seed": results}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "segmented":
        cache_dir = Path(sys.argv[sys.argv.index("--dir") + 1]) if "--dir" in sys.argv else Path(tempfile.mkdtemp())
        main_segmented([int(s) for s in sys.argv[2].split(",")], cache_dir, "-v" in sys.argv)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100, int(sys.argv[2]) if len(sys.argv) > 2 else 120)
