"""DAVIS-layout folders: lazy loading and semi-supervised propagation evaluation.

Layout: ``JPEGImages/<seq>/NNNNN.jpg`` (or ``.png``) and ``Annotations/<seq>/NNNNN.png`` (palette
indices or grey levels; 0 is background). Annotations may be sparse: only some frames have one.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import cv2
import numpy as np
from PIL import Image as PILImage

from app.errors import InputError
from app.eval.metrics import boundary_f, region_j
from models.base import Image, Labels, Propagator

_IMAGE_EXT = (".jpg", ".jpeg", ".png")


class LazyFrames(Sequence[Image]):
    """Frames decoded from their files on access (a propagator may hold only a few at once)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, i: int) -> Image: ...

    @overload
    def __getitem__(self, i: slice) -> LazyFrames: ...

    def __getitem__(self, i: int | slice) -> Image | LazyFrames:
        if isinstance(i, slice):
            return LazyFrames(self.paths[i])
        with PILImage.open(self.paths[i]) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)


def read_labels(path: Path) -> Labels:
    """An annotation PNG as object ids: palette indices as they are, grey levels ranked to 1..n."""
    with PILImage.open(path) as im:
        if im.mode == "P":
            return np.asarray(im, dtype=np.uint8).copy()
        a = np.asarray(im.convert("L"))
    out = np.zeros(a.shape, np.uint8)
    for k, v in enumerate(v for v in np.unique(a) if v != 0):
        out[a == v] = k + 1
    return out


@dataclass
class DavisSequence:
    """One sequence: frames (lazy) and the indices of its annotated frames."""

    name: str
    frames: LazyFrames
    annotations: dict[int, Path] = field(default_factory=dict)

    def labels(self, index: int, shape: tuple[int, ...] | None = None) -> Labels:
        """Ground-truth object ids of annotated frame ``index``, resized (nearest) to ``shape``."""
        lab = read_labels(self.annotations[index])
        if shape is not None and lab.shape != tuple(shape[:2]):
            # Some published annotations are a pixel off the frames; nearest keeps ids intact.
            lab = np.asarray(cv2.resize(lab, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST), np.uint8)
        return lab


def load_davis(root: str | Path, sequences: Sequence[str] | None = None) -> list[DavisSequence]:
    """Every sequence under ``root`` (or those named) that has frames and at least one annotation."""
    root = Path(root)
    img_root, ann_root = root / "JPEGImages", root / "Annotations"
    if not img_root.is_dir() or not ann_root.is_dir():
        raise InputError(f"{root} is not a DAVIS-layout folder (it needs JPEGImages/ and Annotations/).")
    names = sorted(p.name for p in img_root.iterdir() if p.is_dir()) if sequences is None else list(sequences)
    out = []
    for name in names:
        if not (img_root / name).is_dir():
            raise InputError(f"Sequence {name!r} is not in {img_root}.")
        paths = sorted(p for p in (img_root / name).iterdir() if p.suffix.lower() in _IMAGE_EXT)
        index = {p.stem: i for i, p in enumerate(paths)}
        ann = {index[p.stem]: p for p in sorted((ann_root / name).glob("*.png")) if p.stem in index}
        if paths and ann:
            out.append(DavisSequence(name, LazyFrames(paths), ann))
    return out


def score_frame(pred: Labels, gt: Labels, ids: Sequence[int]) -> tuple[list[float], list[float]]:
    """Per-object J and F of one frame."""
    return ([region_j(pred == k, gt == k) for k in ids], [boundary_f(pred == k, gt == k) for k in ids])


def first_seeds(seq: DavisSequence, shape: tuple[int, ...]) -> dict[int, Labels]:
    """Every object seeded at the first annotated frame that holds it (sparse multi-object protocol).

    The seed map of a frame holds only the objects that first appear there (0 elsewhere); the
    propagator merges it with the objects it carries from earlier seeds.
    """
    seeds: dict[int, Labels] = {}
    seen: set[int] = set()
    for i in sorted(seq.annotations):
        lab = seq.labels(i, shape)
        new = [int(k) for k in np.unique(lab) if k != 0 and int(k) not in seen]
        if new:
            seeds[i] = np.where(np.isin(lab, new), lab, 0).astype(np.uint8)
            seen.update(new)
    return seeds


def eval_propagation(root: str | Path, propagator: Propagator,
                     sequences: Sequence[str] | None = None) -> dict[str, Any]:
    """Semi-supervised VOS: seed each object at its first annotation, propagate, score the others.

    Every object is seeded at the first annotated frame that holds it (see `first_seeds`), so sparse
    datasets whose objects appear on different frames get one seed per object. Propagation runs
    forward from the first annotated frame. An object is scored on every later annotated frame whose
    annotation holds it or holds every object seeded so far (a complete annotation).

    Returns ``{"sequences": {name: {"J", "F", "JF", "frames", "scored", "fps"}}, "J", "F", "JF"}``;
    per sequence, J and F are averaged over frames per object, then over objects (as DAVIS does).
    Sequences with no object annotated after its seed frame are left out.
    """
    per_seq: dict[str, dict[str, float]] = {}
    for seq in load_davis(root, sequences):
        first = min(seq.annotations)
        shape = seq.frames[first].shape
        seeds = first_seeds(seq, shape)
        seeded_at = {int(k): i for i, lab in seeds.items() for k in np.unique(lab) if k != 0}
        ids = sorted(seeded_at)
        frames = seq.frames[first:]
        t = time.perf_counter()
        result = propagator.propagate(frames, {i - first: lab for i, lab in seeds.items()}, "forward")
        elapsed = time.perf_counter() - t
        js: list[list[float]] = []
        fs: list[list[float]] = []
        for i in sorted(seq.annotations):
            known = {k for k, s in seeded_at.items() if s < i}
            if not known:
                continue
            gt = seq.labels(i, shape)
            # Sparse datasets annotate only the objects that newly appear on a frame; a frame missing
            # some known objects is scored only on the known objects it does hold.
            present = set(np.unique(gt).tolist())
            scored = [k for k in ids if k in known and (k in present or present >= known)]
            if not scored:
                continue
            j, f = score_frame(result[i - first].labels, gt, ids)
            js.append([v if k in scored else np.nan for v, k in zip(j, ids, strict=True)])
            fs.append([v if k in scored else np.nan for v, k in zip(f, ids, strict=True)])
        if not js or not ids:
            continue
        with warnings.catch_warnings():  # objects never scored (all-NaN columns) are dropped
            warnings.simplefilter("ignore", RuntimeWarning)
            jm = float(np.nanmean(np.nanmean(js, axis=0)))
            fm = float(np.nanmean(np.nanmean(fs, axis=0)))
        per_seq[seq.name] = {"J": jm, "F": fm, "JF": (jm + fm) / 2, "frames": float(len(frames)), "scored": float(len(js)),
                             "fps": len(frames) / max(elapsed, 1e-9)}
    if not per_seq:
        return {"sequences": {}, "J": 0.0, "F": 0.0, "JF": 0.0}
    return {
        "sequences": per_seq,
        "J": float(np.mean([v["J"] for v in per_seq.values()])),
        "F": float(np.mean([v["F"] for v in per_seq.values()])),
        "JF": float(np.mean([v["JF"] for v in per_seq.values()])),
    }
