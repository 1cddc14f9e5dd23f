"""Corrections: clicks, brush strokes and propagation from corrected frames, committed to the journal.

Plain code over the store and a backend, so the runner, the CLI and tests share it. A correction
reaches the masks only through `app.store.Project.commit` (journalled first); the chunks a
propagation streams before its commit are written by the runner's write path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from app.errors import InputError
from app.store import JournalEntry, MaskEdit, Project, Shot, undo_confidence
from app.store.edits import decode_labels, encode_labels
from app.store.layers import to_uint8
from models.base import ClickSegmenter, Labels, Prompt, Propagator, SoftMap

Direction = Literal["forward", "backward", "both"]
# A click that would leave an object with less than this share of its pixels on the frame (and it had
# at least MIN_GUARDED_AREA of them) is refused: a slip must never silently wipe a mask.
KEEP_AT_LEAST = 0.1
MIN_GUARDED_AREA = 64


class EditRefused(InputError):
    """An edit that would (nearly) empty an object's mask; nothing was changed."""


def _source_of(project: Project, frame: int) -> str:
    return str(project.layers.meta("masks", frame).get("source", "pipeline"))


def replace_object(labels: np.ndarray, object_id: int, mask: np.ndarray) -> np.ndarray:
    """``labels`` with ``object_id`` exactly on ``mask`` (taking those pixels from other objects)."""
    out = labels.copy()
    out[(labels == object_id) & ~mask] = 0
    out[mask] = object_id
    return out


def _claim(clicker: ClickSegmenter, image_id: str, image: np.ndarray, before: np.ndarray, object_id: int,
           prompt: Prompt) -> np.ndarray:
    """Pixels of other objects that the prompt's last positive click takes for ``object_id``.

    Refining A's mask from its prior only reaches into B's region near the click, so moving a region
    from B to A took many clicks. A positive click landing on B's pixels instead asks the clicker
    for the region under that one click alone and hands the part of it inside B to A (one edit).
    """
    h, w = before.shape
    positives = [(x, y) for x, y, positive in prompt.points if positive]
    if not positives:
        return np.zeros_like(before, bool)
    x, y = (int(v) for v in positives[-1])
    if not (0 <= x < w and 0 <= y < h):
        return np.zeros_like(before, bool)
    other = int(before[y, x])
    if other in (0, object_id):
        return np.zeros_like(before, bool)
    theirs = before == other
    region = np.asarray(clicker.predict(image_id, image, Prompt(points=((float(x), float(y), True),)), None), bool)
    claimed = region & theirs
    if not claimed[y, x]:
        # The clicker's region missed the click itself: take the connected part of B under it.
        _, comp = cv2.connectedComponents(theirs.astype(np.uint8), connectivity=4)
        claimed = comp == comp[y, x]
    return claimed


def one_way(prompt: Prompt, prior: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask`` kept to the way the prompt's last click points: a positive click never removes pixels
    from the object, a negative one never adds any (a box may do both).

    The classical clicker re-decides every superpixel of the frame from colour models refreshed by the
    click, so a left click on sakura_quest's collar dropped a 23-pixel superpixel of her hair 75 px
    away (149,306 -> 149,283 px); a deep clicker re-predicts the whole mask from its prior and can do
    the same.
    """
    if prompt.box is not None or not prompt.points:
        return mask
    return mask | prior if prompt.points[-1][2] else mask & prior


def check_kept(before: np.ndarray, after: np.ndarray, object_id: int, frame: int, what: str = "This click") -> None:
    """Refuse an edit that would empty or nearly empty ``object_id`` on ``frame``."""
    had = int(np.count_nonzero(before == object_id))
    keeps = int(np.count_nonzero(after == object_id))
    if had >= MIN_GUARDED_AREA and keeps < KEEP_AT_LEAST * had:
        raise EditRefused(
            f"{what} would remove {100 - 100 * keeps // had}% of object {object_id} on frame {frame + 1}, so it "
            "was not applied; use the eraser or delete the object to remove it on purpose.")


def click_correction(project: Project, clicker: ClickSegmenter, frame: int, object_id: int, prompt: Prompt) -> JournalEntry:
    """Refine the object's current mask on ``frame`` with the prompt and commit the result.

    A positive click on another object's pixels takes the region under it for this object. A click
    only ever moves the mask its own way (`one_way`). A result that would (nearly) empty the object
    raises `EditRefused` and commits nothing.
    """
    before = project.masks_or_empty(frame)
    prior = before == object_id
    image = project.frame(frame)
    mask = np.asarray(clicker.predict(f"frame-{frame}", image, prompt, prior if prior.any() else None), bool)
    mask = mask | _claim(clicker, f"frame-{frame}", image, before, object_id, prompt)
    mask = one_way(prompt, prior, mask)
    after = replace_object(before, object_id, mask)
    check_kept(before, after, object_id, frame)
    # Plain numbers: a prompt built from numpy coordinates (a script's, a mask's bounding box) must not
    # fail the journal's JSON after the clicker ran.
    payload = {"object_id": int(object_id), "points": [[float(x), float(y), bool(pos)] for x, y, pos in prompt.points],
               "box": None if prompt.box is None else [float(v) for v in prompt.box]}
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


@dataclass(frozen=True)
class PropagatedChunk:
    """Consecutive frames of one propagation: their labels and the propagator's confidence."""

    frames: list[int]
    labels: list[Labels]
    confidence: list[SoftMap]


class InteractivePropagation:
    """Propagate the masks of ``frame`` (and the shot's other corrected frames) through the shot.

    The caller drives it: `chunks` works outward in chunks of ``chunk`` frames (each seeded by the
    frame before it, plus the bounding corrected frame when it falls inside) and hands each over as
    soon as it is computed, for the caller to write and show; `commit` then journals the whole
    propagation as one entry, so a single undo reverts it. Nothing here writes a layer.
    """

    def __init__(self, project: Project, propagator: Propagator, frame: int, direction: Direction, *,
                 chunk: int = 12) -> None:
        self.project = project
        self.propagator = propagator
        self.frame = frame
        self.direction = direction
        self.chunk = max(1, chunk)
        _, self.seeds, self.targets = propagation_range(project, frame, direction)
        # Label maps wait for the journal entry packed (`encode_labels`) (a long 1080p shot would otherwise
        # hold two full maps per frame in memory); only the chunk's anchor is kept decoded.
        self._before: dict[int, bytes] = {}
        self._meta: dict[int, dict[str, Any] | None] = {}  # None: the frame had no masks
        # The confidence layer before and as computed (packed), kept beside the journal for undo and
        # redo (`app.store.undo_confidence`); None: the frame had none.
        self._confidence_before: dict[int, tuple[bytes, dict[str, Any]] | None] = {}
        for f in self.targets:
            labels = project.layers.read("masks", f)
            self._meta[f] = None if labels is None else project.layers.meta("masks", f)
            self._before[f] = encode_labels(labels if labels is not None else project.masks_or_empty(f))
            confidence = project.layers.read("confidence", f)
            self._confidence_before[f] = None if confidence is None else (
                undo_confidence.pack(confidence), project.layers.meta("confidence", f))
        self._results: dict[int, bytes] = {}
        self._confidence: dict[int, bytes] = {}
        self.side_bytes = 0  # the size of the side file the commit wrote

    def previous(self, frame: int) -> tuple[Labels | None, dict[str, Any]]:
        """What ``frame``'s masks were before this propagation (None: none) and their meta."""
        meta = self._meta[frame]
        return (None, {}) if meta is None else (decode_labels(self._before[frame]), meta)

    def previous_confidence(self, frame: int) -> tuple[np.ndarray | None, dict[str, Any]]:
        """What ``frame``'s confidence was before this propagation (None: none) and its meta."""
        kept = self._confidence_before[frame]
        return (None, {}) if kept is None else (undo_confidence.unpack(kept[0]), kept[1])

    def chunks(self) -> Iterator[PropagatedChunk]:
        """Compute the targets outward from ``frame``, forward then backward, one chunk at a time."""
        project, frame = self.project, self.frame
        last: dict[int, Labels] = {}
        seed_labels = {s: project.masks_or_empty(s) for s in self.seeds}
        forward = [f for f in self.targets if f > frame]
        backward = sorted((f for f in self.targets if f < frame), reverse=True)
        for step, runs in ((1, forward), (-1, backward)):
            anchor = frame
            for start in range(0, len(runs), self.chunk):
                part = runs[start : start + self.chunk]
                stop = part[-1] + step
                seq = [anchor, *part] + ([stop] if stop in seed_labels and stop != frame else [])
                local_seeds = {0: last.get(anchor, seed_labels.get(anchor))}
                if seq[-1] in seed_labels and len(seq) > len(part) + 1:
                    local_seeds[len(seq) - 1] = seed_labels[seq[-1]]
                frames = [project.frame(f) for f in seq]
                seeds = {k: v for k, v in local_seeds.items() if v is not None}
                out = self.propagator.propagate(frames, seeds, "forward" if len(local_seeds) == 1 else "both")
                labels = [np.asarray(out[i + 1].labels, np.uint8) for i in range(len(part))]
                confidence = [np.asarray(res.confidence, np.float32) for res in out[1 : len(part) + 1]]
                last = {part[-1]: labels[-1]}
                for f, lab, conf in zip(part, labels, confidence, strict=True):
                    self._results[f] = encode_labels(lab)
                    self._confidence[f] = undo_confidence.pack(to_uint8(conf))  # as the layer stores it
                yield PropagatedChunk(part, labels, confidence)
                anchor = part[-1]

    def commit(self) -> JournalEntry | None:
        """Journal (and so apply) every frame computed so far as one ``propagate`` entry; None when
        there was nothing to propagate."""
        if not self._results:
            return None
        # Who made each frame's masks before: read before the streamed chunks overwrote the meta.
        edits = [MaskEdit(f, self._before[f], self._results[f], 0, "accepted", str((self._meta[f] or {}).get("source", "pipeline")))
                 for f in sorted(self._results)]
        entry = self.project.commit("propagate", edits, {"from": self.frame, "direction": self.direction})
        self.side_bytes = undo_confidence.save(
            self.project, entry.seq, {f: self._confidence_before[f] for f in self._results},
            {f: self._confidence[f] for f in self._results if f in self._confidence})
        return entry
