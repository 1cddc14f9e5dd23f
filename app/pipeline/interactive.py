"""Corrections: clicks, brush strokes and propagation from corrected frames, committed to the journal.

Plain functions over the store and a backend, so the runner, the CLI and tests share them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from app.store import JournalEntry, MaskEdit, Project, Shot
from models.base import Prompt

Direction = Literal["forward", "backward", "both"]


def _source_of(project: Project, frame: int) -> str:
    return str(project.layers.meta("masks", frame).get("source", "pipeline"))


def replace_object(labels: np.ndarray, object_id: int, mask: np.ndarray) -> np.ndarray:
    """``labels`` with ``object_id`` exactly on ``mask`` (taking those pixels from other objects)."""
    out = labels.copy()
    out[(labels == object_id) & ~mask] = 0
    out[mask] = object_id
    return out


def click_correction(project: Project, clicker: Any, frame: int, object_id: int, prompt: Prompt) -> JournalEntry:
    """Refine the object's current mask on ``frame`` with the prompt and commit the result."""
    before = project.masks_or_empty(frame)
    prior = before == object_id
    mask = clicker.predict(f"frame-{frame}", project.frame(frame), prompt, prior if prior.any() else None)
    after = replace_object(before, object_id, np.asarray(mask, bool))
    payload = {"object_id": object_id, "points": [list(p) for p in prompt.points], "box": prompt.box}
    return project.commit("click", [MaskEdit(frame, before, after, object_id, "user", _source_of(project, frame))], payload)


def brush_correction(project: Project, frame: int, object_id: int, stroke: np.ndarray, erase: bool) -> JournalEntry:
    """Paint (or erase) ``stroke`` into the object's mask on ``frame``."""
    before = project.masks_or_empty(frame)
    current = before == object_id
    mask = current & ~stroke if erase else current | stroke
    after = replace_object(before, object_id, mask)
    kind = "erase" if erase else "brush"
    return project.commit(kind, [MaskEdit(frame, before, after, object_id, "user", _source_of(project, frame))], {"object_id": object_id})


def propagation_range(project: Project, frame: int, direction: Direction) -> tuple[Shot, list[int], list[int]]:
    """The shot, the user seeds in it, and the frames a propagation from ``frame`` rewrites.

    It stops at the next corrected frame in each direction: those are permanent and win on their side.
    """
    shot = project.shot_of(frame)
    users = sorted(f for f, s in project.corrected_frames().items() if s == "user" and f in shot)
    seeds = sorted(set(users) | {frame})
    later = [s for s in seeds if s > frame]
    earlier = [s for s in seeds if s < frame]
    targets: list[int] = []
    if direction in ("backward", "both"):
        targets += list(range(earlier[-1] + 1 if earlier else shot.start, frame))
    if direction in ("forward", "both"):
        targets += list(range(frame + 1, later[0] if later else shot.end))
    # Propagation steps from drawing to drawing: held frames share their drawing's masks, and the
    # frames of the corrected frame's own hold already show the correction.
    keys = project.drawing_keys
    targets = [f for f in targets if keys[f] == f and keys[f] != keys[frame]]
    return shot, seeds, targets


def propagate_from(
    project: Project,
    propagator: Any,
    frame: int,
    direction: Direction,
    *,
    chunk: int = 12,
    on_chunk: Callable[[list[int], list[np.ndarray]], None] | None = None,
) -> JournalEntry | None:
    """Propagate the masks of ``frame`` (and the shot's other corrected frames) through the shot.

    Works outward in chunks so results stream to the caller (``on_chunk``); each chunk is seeded by
    the frame before it, plus the bounding corrected frame when it falls inside. One journal entry
    holds the whole propagation, so a single undo reverts it.
    """
    _, seeds, targets = propagation_range(project, frame, direction)
    if not targets:
        return None
    before = {f: project.masks_or_empty(f) for f in targets}
    results: dict[int, np.ndarray] = {}
    seed_labels = {s: project.masks_or_empty(s) for s in seeds}
    for step, runs in ((1, [f for f in targets if f > frame]), (-1, sorted((f for f in targets if f < frame), reverse=True))):
        anchor = frame
        for start in range(0, len(runs), chunk):
            part = runs[start : start + chunk]
            stop = part[-1] + step
            seq = [anchor, *part] + ([stop] if stop in seed_labels and stop != frame else [])
            local_seeds = {0: results.get(anchor, seed_labels.get(anchor))}
            if seq[-1] in seed_labels and len(seq) > len(part) + 1:
                local_seeds[len(seq) - 1] = seed_labels[seq[-1]]
            frames = [project.frame(f) for f in seq]
            out = propagator.propagate(frames, {k: v for k, v in local_seeds.items() if v is not None}, "forward" if len(local_seeds) == 1 else "both")
            labels = [np.asarray(out[i + 1].labels, np.uint8) for i in range(len(part))]
            for f, lab, res in zip(part, labels, out[1 : len(part) + 1], strict=True):
                results[f] = lab
                project.layers.write("confidence", f, np.asarray(res.confidence, np.float32), {"stage": "propagate", "from": frame})
            if on_chunk is not None:
                on_chunk(part, labels)
            anchor = part[-1]
    edits = [MaskEdit(f, before[f], results[f], 0, "accepted", _source_of(project, f)) for f in sorted(results)]
    return project.commit("propagate", edits, {"from": frame, "direction": direction})
