"""Propagation quality (J, F, J&F) and speed of the weight-free propagator.

Usage::

    .venv/bin/python benchmarks/propagation.py                     # everything
    .venv/bin/python benchmarks/propagation.py --parts vos,anime --anime-seeds 1,2

Parts:
    vos     ../shared/data/vos (DAVIS layout) through `app.eval.davis.eval_propagation`: every object
            seeded at its first annotated frame, forward propagation, DAVIS J and F
    anime   generated anime shots (`app.demo.generator`, exact labels; seeds other than 0), procedural
            characters and the RGBA characters of ../shared/data/anime/characters. ``dense``: every
            object seeded on the shot's first frame; ``sparse``: object k seeded alone on local frame
            3 (k - 1), merged with the others. Scored on every later frame of the shot.
    speed   frames/s at 854x480 on a generated shot (decode excluded)

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
VOS = SHARED / "data" / "vos"
CHARACTERS = SHARED / "data" / "anime" / "characters"

from app.demo.generator import generate_shots  # noqa: E402
from app.eval.davis import eval_propagation, first_seeds, load_davis, score_frame  # noqa: E402
from models.classical.propagation import FlowPropagator  # noqa: E402


def vos(prop: FlowPropagator) -> None:
    if not VOS.is_dir():
        print(f"vos: {VOS} is absent; skipped")
        return
    for name in ("car-shadow", "tennis", "judo_sparse"):
        res = eval_propagation(VOS, prop, [name])
        s = res["sequences"].get(name)
        if s is None:
            print(f"{name:14s} not scored (no object annotated after its seed frame); {sparse_survival(prop, name)}")
            continue
        print(f"{name:14s} J {s['J']:.3f}  F {s['F']:.3f}  J&F {s['JF']:.3f}  "
              f"({int(s['scored'])} frames scored, {s['fps']:.1f} frames/s incl. decode)")


def sparse_survival(prop: FlowPropagator, name: str) -> str:
    """Seeds, and each seeded object's area on the last frame relative to its seed (a sanity figure)."""
    seq = load_davis(VOS, [name])[0]
    first = min(seq.annotations)
    seeds = first_seeds(seq, seq.frames[first].shape)
    out = prop.propagate(seq.frames[first:], {i - first: lab for i, lab in seeds.items()}, "forward")
    last = out[-1].labels
    parts = [f"{k}@{i}:{np.count_nonzero(last == k) / np.count_nonzero(lab == k):.2f}"
             for i, lab in sorted(seeds.items()) for k in np.unique(lab) if k != 0]
    return "object@seed frame: last-frame area / seed area " + " ".join(parts)


def score_shot(prop: FlowPropagator, images: list[np.ndarray], gts: list[np.ndarray],
               sparse: bool) -> tuple[float, float] | None:
    """Mean J and F of one shot; None when the first frame holds no object."""
    ids = [int(k) for k in np.unique(gts[0]) if k != 0]
    if not ids:
        return None
    seeds: dict[int, np.ndarray] = {}
    seeded_at: dict[int, int] = {}
    for n, k in enumerate(ids):
        at = 3 * n if sparse else 0
        if not (gts[at] == k).any():
            at = next((i for i in range(len(gts)) if (gts[i] == k).any()), 0)
        seeded_at[k] = at
        seeds.setdefault(at, np.zeros_like(gts[0]))[gts[at] == k] = k
    if not sparse:
        seeds = {0: gts[0].copy()}
    out = prop.propagate(images, seeds, "forward")
    js, fs = [], []
    for i in range(1, len(images)):
        j, f = score_frame(out[i].labels, gts[i], ids)
        js.append([v if i > seeded_at[k] else np.nan for v, k in zip(j, ids, strict=True)])
        fs.append([v if i > seeded_at[k] else np.nan for v, k in zip(f, ids, strict=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.nanmean(js, axis=0))), float(np.nanmean(np.nanmean(fs, axis=0)))


def anime(prop: FlowPropagator, seeds: list[int], shots: int, length: int) -> None:
    sources: list[tuple[str, Path | None]] = [("procedural", None)]
    if CHARACTERS.is_dir():
        sources.append(("characters", CHARACTERS))
    for mode in ("dense", "sparse"):
        for label, cdir in sources:
            rows = []
            for seed in seeds:
                video = generate_shots(seed, width=640, height=360, shots=shots, frames_per_shot=length,
                                       character_dir=cdir)
                for s in range(shots):
                    frames = [video.frame(s * length + i) for i in range(length)]
                    r = score_shot(prop, [f.image for f in frames], [f.labels for f in frames], mode == "sparse")
                    if r is not None:
                        rows.append(r)
            j = float(np.mean([r[0] for r in rows]))
            f = float(np.mean([r[1] for r in rows]))
            print(f"anime {mode:6s} {label:10s} J {j:.3f}  F {f:.3f}  J&F {(j + f) / 2:.3f}  ({len(rows)} shots)")


def speed(prop: FlowPropagator, frames: int = 25) -> None:
    video = generate_shots(5, width=854, height=480, shots=1, frames_per_shot=frames)
    images = [f.image for f in video]
    t0 = time.perf_counter()
    prop.propagate(images, {0: video.frame(0).labels}, "forward")
    wall = time.perf_counter() - t0
    print(f"480p propagation speed {(frames - 1) / wall:.2f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="vos,anime,speed")
    parser.add_argument("--anime-seeds", default="1,2,3")
    parser.add_argument("--anime-shots", type=int, default=3)
    parser.add_argument("--anime-length", type=int, default=20)
    args = parser.parse_args()
    prop = FlowPropagator()
    parts = args.parts.split(",")
    if "vos" in parts:
        vos(prop)
    if "anime" in parts:
        anime(prop, [int(s) for s in args.anime_seeds.split(",")], args.anime_shots, args.anime_length)
    if "speed" in parts:
        speed(prop)


if __name__ == "__main__":
    main()
