"""The review queue: the shots and objects most in need of a human look, from the pipeline's own signals.

For every (shot, object) of a project the queue measures, from the stored layers and records only:

- ``low_confidence``: 1 - the mean propagation confidence on the object's pixels (propagate says where the
  propagated and the per-frame masks disagree);
- ``flicker``: one-frame pops of the mask - the pixels where a frame differs from both neighbours while
  they agree with each other, as a share of the object's region there (smooth motion gives ~0; floored
  at ``SMALL_AREA`` of the frame so a speck that blinks does not count as a whole object jumping);
- ``ambiguity``: the share of the shot's frames where the object's appearance embedding (annotate) is
  closer to another object's mean embedding over the episode than to its own;
- ``small``: how far below 1 % of the frame the object's median area is;
- ``fragmented``: the share of the object's pixels outside its largest connected piece.

The score weights them (``WEIGHTS``) and each entry names the worst frame, so opening it in the app
jumps to that frame and object. No Qt here: the app's review panel and ``celstudio review`` both read it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.errors import InputError
from app.store import Project
from app.store.layers import label_counts
from app.store.manifest import MANIFEST_NAME

SIGNALS: tuple[str, ...] = ("low_confidence", "flicker", "ambiguity", "small", "fragmented")
WEIGHTS: dict[str, float] = {"low_confidence": 1.0, "flicker": 1.5, "ambiguity": 0.75, "small": 0.5, "fragmented": 0.5}
SMALL_AREA = 0.01  # an object under this share of the frame is hard to see and to check


@dataclass
class ReviewEntry:
    """One (shot, object) with its signals, its score and the frame to open."""

    project: str
    episode: str
    shot: int
    start: int
    end: int
    object_id: int
    frame: int
    score: float
    signals: dict[str, float]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ShotSignals:
    """The per-shot maxima of each signal (over its objects), for the panel's plot."""

    episode: str
    shot: int
    start: int
    end: int
    score: float
    signals: dict[str, float] = field(default_factory=dict)


@dataclass
class ReviewQueue:
    entries: list[ReviewEntry]  # worst first
    shots: list[ShotSignals]  # in season order (episode by episode, shot by shot)

    def top(self, percent: float | None = None, count: int | None = None) -> list[ReviewEntry]:
        """The worst ``count`` entries, or the worst ``percent`` % of them (at least one)."""
        if count is None:
            count = max(1, math.ceil(len(self.entries) * (percent if percent is not None else 5.0) / 100.0))
        return self.entries[:count]


def review_projects(root: Path) -> list[Path]:
    """``root`` itself when it is a project, else the projects directly inside it (a season)."""
    root = Path(root).expanduser()
    if (root / MANIFEST_NAME).exists():
        return [root]
    if root.is_dir():
        found = sorted(p for p in root.iterdir() if (p / MANIFEST_NAME).exists())
        if found:
            return found
    raise InputError(f"{root} is not a project nor a folder of projects.")


def build_queue(root: Path, opened: list[Project] | None = None) -> ReviewQueue:
    """The review queue of a project or a folder of projects, worst first.

    ``opened`` are projects this process already has open (the app's current one): they are read as
    they are rather than opened a second time."""
    entries: list[ReviewEntry] = []
    shots: list[ShotSignals] = []
    already = {Path(p.root).resolve(): p for p in opened or []}
    for path in review_projects(root):
        if path.resolve() in already:
            e, s = project_signals(already[path.resolve()])
        else:
            with Project.open(path) as project:
                e, s = project_signals(project)
        entries.extend(e)
        shots.extend(s)
    entries.sort(key=lambda x: (-x.score, x.episode, x.shot, x.object_id))
    return ReviewQueue(entries, shots)


def _flicker(masks: list[np.ndarray], floor: float) -> np.ndarray:
    """Per frame: the share of the object's region (at least ``floor`` pixels) that pops for one frame."""
    out = np.zeros(len(masks), np.float64)
    for t in range(1, len(masks) - 1):
        a, b, c = masks[t - 1], masks[t], masks[t + 1]
        pops = np.count_nonzero((a == c) & (b != a))
        if pops:
            out[t] = min(1.0, pops / max(float(np.count_nonzero(a | b | c)), floor))
    return out


def _fragmentation(mask: np.ndarray) -> float:
    total = int(np.count_nonzero(mask))
    if total == 0:
        return 0.0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else total
    return 1.0 - largest / total


def _embeddings(project: Project) -> dict[tuple[int, int], np.ndarray]:
    """(frame, object) -> the stage-4 appearance embedding, where the annotator gave one."""
    out: dict[tuple[int, int], np.ndarray] = {}
    for frame, record in project.layers.read_records("annotations").items():
        for key, info in (record.get("objects") or {}).items():
            emb = info.get("embedding") if isinstance(info, dict) else None
            if emb:
                vec = np.asarray(emb, np.float64).ravel()
                norm = np.linalg.norm(vec)
                if norm > 0:
                    out[(frame, int(key))] = vec / norm
    return out


def project_signals(project: Project) -> tuple[list[ReviewEntry], list[ShotSignals]]:
    """Review entries and per-shot signals of one project (frames without masks are skipped)."""
    episode = project.root.name
    embeddings = _embeddings(project)
    means: dict[int, np.ndarray] = {}
    for (_, obj), vec in embeddings.items():
        means[obj] = means.get(obj, np.zeros_like(vec)) + vec
    means = {k: v / (np.linalg.norm(v) or 1.0) for k, v in means.items()}
    size = float(project.width * project.height)
    entries: list[ReviewEntry] = []
    shots: list[ShotSignals] = []
    # Which objects each frame holds, from the per-frame lists kept as masks are written
    # (`LayerStore.present`), not a sort of every map's pixels; a map without a list is counted.
    listed = project.layers.present("masks")
    for index, shot in enumerate(project.shots):
        frames = list(range(shot.start, shot.end))
        labels = [project.layers.read("masks", f) for f in frames]
        conf = [project.layers.read("confidence", f) for f in frames]
        ids = sorted({i for f, lab in zip(frames, labels, strict=True) if lab is not None
                      for i in (listed[f] if f in listed else label_counts(lab))})
        shot_entries: list[ReviewEntry] = []
        for obj in ids:
            masks = [lab == obj if lab is not None else np.zeros((project.height, project.width), bool) for lab in labels]
            present = [i for i, m in enumerate(masks) if m.any()]
            if not present:
                continue
            low = np.zeros(len(frames))
            for i in present:
                c = conf[i]
                if c is not None:
                    low[i] = 1.0 - float(c[masks[i]].mean()) / 255.0
            flick = _flicker(masks, SMALL_AREA * size)
            frag = np.array([_fragmentation(m) for m in masks])
            areas = np.array([np.count_nonzero(m) / size for m in masks])
            small = max(0.0, 1.0 - float(np.median(areas[present])) / SMALL_AREA)
            ambiguity = 0.0
            vecs = [embeddings[(f, obj)] for f in frames if (f, obj) in embeddings]
            others = [v for k, v in means.items() if k != obj]
            if vecs and others:
                confused = [max(float(v @ o) for o in others) > float(v @ means[obj]) for v in vecs]
                ambiguity = float(np.mean(confused))
            signals = {
                "low_confidence": float(low[present].mean()), "flicker": float(flick.max()),
                "ambiguity": ambiguity, "small": small, "fragmented": float(frag[present].mean()),
            }
            score = sum(WEIGHTS[k] * v for k, v in signals.items()) / sum(WEIGHTS.values())
            # The frame to open: where the worst per-frame signal of this object peaks.
            per_frame = WEIGHTS["low_confidence"] * low + WEIGHTS["flicker"] * flick + WEIGHTS["fragmented"] * frag
            worst = int(np.argmax(np.where(areas > 0, per_frame, -1.0)))
            top = max(signals, key=lambda k: WEIGHTS[k] * signals[k])
            shot_entries.append(ReviewEntry(
                project=str(project.root), episode=episode, shot=index, start=shot.start, end=shot.end, object_id=obj,
                frame=frames[worst], score=round(score, 6), signals={k: round(v, 6) for k, v in signals.items()},
                reason=f"{top.replace('_', ' ')} {signals[top]:.2f}",
            ))
        entries.extend(shot_entries)
        maxima = {k: max((e.signals[k] for e in shot_entries), default=0.0) for k in SIGNALS}
        shots.append(ShotSignals(episode, index, shot.start, shot.end, max((e.score for e in shot_entries), default=0.0), maxima))
    return entries, shots
