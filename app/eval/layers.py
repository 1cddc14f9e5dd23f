"""``celstudio eval layers``: the pipeline on generated video it is given nothing but the pixels of.

For each seed: generate multi-shot clips with exact truth (`app.demo.generator`), encode them to an
H.264 mp4 (PyAV, lossy like any video), import the mp4 like any video (shots from the cut
detector), run the pipeline, then compare with the truth, which only this module reads:

- objects: per segment (a true shot, cut again wherever the cut detector cut: segment-stage ids are per
  detected shot), predicted objects (kind ``text`` left out) are matched one-to-one to the true
  characters (Hungarian on IoU over the segment's frames, `scipy.optimize.linear_sum_assignment`);
  per-character IoU is the matched pair's IoU (0 when unmatched);
- fragmentation: predicted objects that belong to a true character (most of the object lies on it)
  per true character; 1.0 is one object per character, 2.0 each character in two pieces;
- identity across shots: for each pair of segments sharing a true character, whether its matched
  predicted ids are the same (the masks' ids; meaningful once ids are project objects);
- foreground IoU (all characters together vs the truth's, per frame: the segment stage before identities);
- matte SAD (alpha vs the union matte) and clean-plate PSNR.

Seeds in `TUNING_SEEDS` were looked at while tuning the segment stage and the cut detector; `HELD_OUT_SEEDS` (the default) never
were.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from scipy.optimize import linear_sum_assignment

from app.demo.generator import GeneratedVideo, generate_shots
from app.ingest.importer import import_source
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project

TUNING_SEEDS = (11, 12)
HELD_OUT_SEEDS = (401, 402, 403)
EFFECT_THRESHOLD = 0.25
STAGES = ["segment", "propagate", "matte", "inpaint", "effects"]


def write_mp4(video: GeneratedVideo, path: Path, crf: int = 18) -> None:
    """Encode the generated frames as H.264 (yuv420p): what the method sees is a real video file."""
    with av.open(str(path), mode="w") as out:
        stream: Any = out.add_stream("libx264", rate=Fraction(video.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# -- object matching (pure functions of label maps) ---------------------------------------------


@dataclass
class ShotMatch:
    """One segment's object figures (a true shot, or the part of it in one detected shot)."""

    iou: dict[int, float]  # true id -> IoU of its matched predicted object (0 if none)
    matched: dict[int, int]  # true id -> predicted id
    fragments: dict[int, int]  # true id -> predicted objects that belong to it
    extra: list[int] = field(default_factory=list)  # predicted ids that belong to no character


def match_shot(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray], ignore: Sequence[set[int]] | None = None,
               own_share: float = 0.5) -> ShotMatch:
    """Match predicted to true objects over the frames of one shot.

    IoU is over the shot's frames together (intersections and unions summed), so an object that is
    right in most frames and missing in a few scores in between. ``ignore[i]`` are predicted ids
    of frame ``i`` left out (text). A predicted object belongs to the true character it overlaps
    most when at least ``own_share`` of its pixels lie on that character.
    """
    inter: dict[tuple[int, int], int] = defaultdict(int)
    p_area: dict[int, int] = defaultdict(int)
    t_area: dict[int, int] = defaultdict(int)
    for i, (p, t) in enumerate(zip(pred, truth, strict=True)):
        p = p.copy()
        for oid in (ignore[i] if ignore is not None else ()):
            p[p == oid] = 0
        pair = p.astype(np.int64) * 256 + t.astype(np.int64)
        counts = np.bincount(pair.ravel(), minlength=65536)
        for code in np.flatnonzero(counts):
            a, b, n = int(code) // 256, int(code) % 256, int(counts[code])
            if a:
                p_area[a] += n
            if b:
                t_area[b] += n
            if a and b:
                inter[a, b] += n
    p_ids, t_ids = sorted(p_area), sorted(t_area)
    iou = np.zeros((len(p_ids), len(t_ids)))
    for (a, b), n in inter.items():
        iou[p_ids.index(a), t_ids.index(b)] = n / (p_area[a] + t_area[b] - n)
    result = ShotMatch({t: 0.0 for t in t_ids}, {}, {t: 0 for t in t_ids})
    if p_ids and t_ids:
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] > 0:
                result.iou[t_ids[c]] = float(iou[r, c])
                result.matched[t_ids[c]] = p_ids[r]
    for a in p_ids:
        best = max(t_ids, key=lambda b: inter.get((a, b), 0), default=None)
        if best is not None and inter.get((a, best), 0) >= own_share * p_area[a]:
            result.fragments[best] += 1
        else:
            result.extra.append(a)
    return result


def identity_pairs(matches: Sequence[ShotMatch]) -> tuple[int, int]:
    """(same-id pairs, pairs): over pairs of shots sharing a true character, whether the predicted
    ids matched to it are the same. An unmatched appearance counts as a different id."""
    same = total = 0
    for a, b in itertools.combinations(matches, 2):
        for tid in set(a.iou) & set(b.iou):
            total += 1
            pa, pb = a.matched.get(tid), b.matched.get(tid)
            same += int(pa is not None and pa == pb)
    return same, total


# -- one seed ---------------------------------------------------------------------------------


def _text_ids(project: Project, frame: int) -> set[int]:
    """Predicted ids of kind text on a frame: the project's objects, else the segment stage's own kinds."""
    ids = {o.id for o in project.manifest.objects if o.kind == "text"}
    kinds = project.layers.meta("segmentation", frame).get("kinds", {})
    return ids | {int(k) for k, v in kinds.items() if v == "text"}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def eval_seed(seed: int, *, width: int, height: int, shots: int, frames_per_shot: int,
              character_dir: Path | None, backends: dict[str, str], workdir: Path) -> dict[str, Any]:
    """Generate, encode, import and run one clip; its figures and the raw counts for pooling."""
    video = generate_shots(seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot,
                           character_dir=character_dir)
    clip = workdir / f"seed{seed}.mp4"
    write_mp4(video, clip)
    started = time.perf_counter()
    project = import_source(clip, workdir / f"seed{seed}")
    try:
        runner = PipelineRunner(project, PipelineSettings(backends=dict(backends))).start()
        runner.submit_run(list(STAGES)).wait()
        runner.wait_idle(3600)
        runner.stop()
        seconds = time.perf_counter() - started
        matches: list[ShotMatch] = []
        sad: list[float | None] = []
        psnr: list[float | None] = []
        fg_iou: list[float | None] = []
        # Matched per segment: a true shot, cut further where the cut detector cut (the segment
        # stage numbers each detected shot on its own; the same character across segments is
        # identity's business).
        cuts = sorted({*video.shot_starts, *(sh.start for sh in project.shots), video.frame_count})
        for start, end in itertools.pairwise(cuts):
            pred, true, ignore = [], [], []
            for i in range(start, end):
                gt = video.frame(i)
                pred.append(project.masks_or_empty(i))
                chars = (pred[-1] > 0) & ~np.isin(pred[-1], list(_text_ids(project, i)))
                union = int((chars | (gt.labels > 0)).sum())
                fg_iou.append(float((chars & (gt.labels > 0)).sum() / union) if union else None)
                true.append(gt.labels)
                ignore.append(_text_ids(project, i))
                alpha = project.layers.read("alpha", i)
                if alpha is not None:
                    sad.append(float(np.abs(alpha.astype(np.float32) / 255.0 - gt.alpha).sum() / 1000.0))
                clean = project.layers.read("clean", i)
                if clean is not None:
                    psnr.append(_psnr(clean, gt.clean))
            matches.append(match_shot(pred, true, ignore))
        found_shots = len(project.shots)
    finally:
        project.close()
    same, pairs = identity_pairs(matches)
    ious = [v for m in matches for v in m.iou.values()]
    fragments = sum(sum(m.fragments.values()) for m in matches)
    return {
        "seed": seed, "frames": video.frame_count, "true_shots": shots, "detected_shots": found_shots,
        "segments": len(matches),
        "characters": len(ious), "character_iou": _mean(ious), "foreground_iou": _mean(fg_iou),
        "fragmentation": round(fragments / max(1, len(ious)), 3),
        "extra_objects": sum(len(m.extra) for m in matches),
        "identity": round(same / pairs, 3) if pairs else None, "identity_pairs": pairs,
        "matte_sad": _mean(sad), "clean_psnr_db": _mean(psnr), "seconds": round(seconds, 1),
        "_ious": ious, "_fragments": fragments, "_same": same,
    }


def eval_layers(
    *, seeds: Sequence[int] = HELD_OUT_SEEDS, width: int = 384, height: int = 216, shots: int = 3,
    frames_per_shot: int = 10, character_dir: Path | None = None, backends: dict[str, str] | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Figures per seed and pooled over ``seeds`` (every character appearance weighs the same)."""
    per_seed = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for seed in seeds:
            per_seed.append(eval_seed(seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot,
                                      character_dir=character_dir, backends=dict(backends or {}), workdir=Path(tmp)))
    ious = [v for r in per_seed for v in r.pop("_ious")]
    fragments = sum(r.pop("_fragments") for r in per_seed)
    same = sum(r.pop("_same") for r in per_seed)
    pairs = sum(r["identity_pairs"] for r in per_seed)
    return {
        "seeds": list(seeds), "tuning_seeds": list(TUNING_SEEDS),
        "held_out": not set(seeds) & set(TUNING_SEEDS),
        "size": f"{width}x{height}", "shots": shots, "frames_per_shot": frames_per_shot,
        "characters": "procedural" if character_dir is None else str(character_dir),
        "backends": dict(backends or {}) or "classical",
        "character_iou": _mean(ious), "fragmentation": round(fragments / max(1, len(ious)), 3),
        "foreground_iou": _mean([r["foreground_iou"] for r in per_seed]),
        "identity": round(same / pairs, 3) if pairs else None,
        "matte_sad": _mean([r["matte_sad"] for r in per_seed]),
        "clean_psnr_db": _mean([r["clean_psnr_db"] for r in per_seed]),
        "per_seed": per_seed,
    }
