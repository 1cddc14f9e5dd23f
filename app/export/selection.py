"""Which frames and objects an export contains.

Filters run in a fixed order: shots (include/exclude) -> frames with masks -> corrected only ->
confidence -> objects (include/exclude, text only when asked, confirmed only, minimum area) -> one
frame per drawing, quality thresholds, best K per character per shot (`app.export.quality`) ->
near-duplicates -> at most N per shot ->
balance per character. Everything is deterministic, so the same project and options select the same
items (which is what lets a re-export skip unchanged files).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from app.export.naming import ExportError
from app.export.quality import Decisions, QualityRules, pick_best, threshold_failure
from app.store import ObjectInfo, Project
from app.store.layers import label_counts
from models.classical.annotate import hamming, perceptual_hash


@dataclass
class Selection(QualityRules):
    """What to export. Object lists accept ids or names; shot lists are 0-based shot indices.

    ``min_confidence`` is in [0, 1] and applies to the mean propagation confidence over the frame's
    objects; frames without a confidence layer (key frames, corrections) pass. ``min_area`` is in
    pixels if >= 1, else a fraction of the frame. ``dedupe`` is the largest dHash Hamming distance
    (of 64 bits) at which two frames count as near-duplicates; 0 turns it off. The quality fields
    (thresholds on the stored signals, best K, view diversity, every frame of a hold) come from
    `app.export.quality.QualityRules`.
    """

    corrected_only: bool = False
    min_confidence: float = 0.0
    min_area: float = 0.0
    dedupe: int = 0
    max_per_shot: int = 0
    balance: bool = False
    shots: list[int] | None = None
    exclude_shots: list[int] = field(default_factory=list)
    objects: list[int | str] | None = None
    exclude_objects: list[int | str] = field(default_factory=list)
    frames: list[int] | None = None
    confirmed_only: bool = False  # only objects the user named or confirmed
    include_text: bool = False  # burnt-in text objects are left out unless asked for (or listed in objects)

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def quality_rules(self) -> QualityRules:
        return QualityRules(**{f.name: getattr(self, f.name) for f in fields(QualityRules)})


@dataclass
class FrameItem:
    """One selected frame: its shot and the selected objects present in it with their pixel areas."""

    frame: int
    shot: int
    objects: list[int]
    areas: dict[int, int]


def _object_ids(project: Project, refs: list[int | str]) -> set[int]:
    out: set[int] = set()
    by_name = {o.name.lower(): o.id for o in project.manifest.objects}
    for ref in refs:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            out.add(int(ref))
        elif str(ref).lower() in by_name:
            out.add(by_name[str(ref).lower()])
        else:
            raise ExportError(f"The project has no object called {ref!r}.")
    return out


def _evenly(items: list[Any], n: int) -> list[Any]:
    if n <= 0 or len(items) <= n:
        return items
    picks = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def character_key(obj: ObjectInfo) -> str:
    """The identity that groups objects into one character (identity if set, else the name)."""
    return obj.identity or obj.name


def select(project: Project, sel: Selection, *, per_object: bool = False,
           decisions: Decisions | None = None) -> list[FrameItem]:
    """Apply ``sel`` to ``project``. ``per_object`` balances (frame, object) items instead of frames.
    ``decisions``, when given, receives why each (frame, object) was kept or dropped."""
    decisions = decisions if decisions is not None else Decisions()
    shots = project.shots
    wanted_shots = set(range(len(shots))) if sel.shots is None else set(sel.shots)
    wanted_shots -= set(sel.exclude_shots)
    known = {o.id for o in project.manifest.objects if sel.include_text or o.kind != "text"}
    keep_ids = known if sel.objects is None else _object_ids(project, sel.objects)
    keep_ids = keep_ids - _object_ids(project, sel.exclude_objects)
    if sel.confirmed_only:
        keep_ids &= {o.id for o in project.manifest.objects if o.confirmed}
    corrected = set(project.corrected_frames()) if sel.corrected_only else set()
    frame_filter = None if sel.frames is None else set(sel.frames)
    versions = project.layers.versions("masks")
    # Which objects each frame holds and their areas, from the per-frame lists kept as masks are
    # written (`LayerStore.present`): no map is read unless its pixels are needed (the confidence
    # filter) or its frame has no list (a damaged map, which reading reports).
    listed = project.layers.present("masks")
    min_area = sel.min_area if sel.min_area >= 1 else sel.min_area * project.width * project.height

    items: list[FrameItem] = []
    for s_index, shot in enumerate(shots):
        if s_index not in wanted_shots:
            continue
        for f in range(shot.start, shot.end):
            if versions[f] == 0 or (frame_filter is not None and f not in frame_filter):
                continue
            if sel.corrected_only and f not in corrected:
                continue
            counts = listed.get(f)
            labels = None
            if counts is None:
                if (labels := project.layers.read("masks", f)) is None:
                    continue
                counts = label_counts(labels)
            present = [i for i in sorted(counts) if i in keep_ids]
            if not present:
                continue
            if sel.min_confidence > 0:
                conf = project.layers.read("confidence", f)
                if conf is not None:
                    if labels is None:
                        labels = project.layers.read("masks", f)
                    fg = np.isin(labels, present) if labels is not None else np.zeros(conf.shape, bool)
                    if fg.any() and float(conf[fg].mean()) / 255.0 < sel.min_confidence:
                        continue
            areas = {i: counts[i] for i in present if counts[i] >= max(min_area, 1)}
            if not areas:
                continue
            items.append(FrameItem(f, s_index, sorted(areas), areas))
            for oid in areas:
                decisions.keep((f, oid), "passes the selection")

    items = _by_quality(project, items, sel.quality_rules(), decisions)

    if sel.dedupe > 0:
        kept: list[FrameItem] = []
        seen: list[tuple[int, frozenset[int]]] = []
        for it in items:
            h = perceptual_hash(project.frame(it.frame))
            objs = frozenset(it.objects)
            if any(o == objs and hamming(h, other) <= sel.dedupe for other, o in seen):
                for oid in it.objects:
                    decisions.drop((it.frame, oid), "near-duplicate of a chosen frame")
                continue
            seen.append((h, objs))
            kept.append(it)
        items = kept

    if sel.max_per_shot > 0:
        by_shot: dict[int, list[FrameItem]] = {}
        for it in items:
            by_shot.setdefault(it.shot, []).append(it)
        items = [it for s in sorted(by_shot) for it in _evenly(by_shot[s], sel.max_per_shot)]
        _log_dropped(items, decisions, f"over the limit of {sel.max_per_shot} frames per shot")

    if sel.balance:
        items = _balance(project, items, per_object)
        _log_dropped(items, decisions, "over the per-character balance cap")
    return items


def _log_dropped(items: list[FrameItem], decisions: Decisions, reason: str) -> None:
    kept = {(it.frame, oid) for it in items for oid in it.objects}
    for key in decisions.chosen - kept:
        decisions.drop(key, reason)


def _by_quality(project: Project, items: list[FrameItem], rules: QualityRules, decisions: Decisions) -> list[FrameItem]:
    """One frame per drawing, the thresholds, then best K per character per shot."""
    keys = project.drawing_keys
    for it in items:
        quality = (project.layers.read_record("annotations", it.frame) or {}).get("quality", {})
        for oid in it.objects:
            key = (it.frame, oid)
            q = quality.get(str(oid))
            if q is not None:
                decisions.signals[key] = q
            if not rules.every_frame and int(keys[it.frame]) != it.frame:
                decisions.drop(key, f"held: the same drawing as frame {int(keys[it.frame])}")
            elif (reason := threshold_failure(q, rules)) is not None:
                decisions.drop(key, reason)
    if rules.best_k > 0:
        char = {o.id: character_key(o) for o in project.manifest.objects}
        groups: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for it in items:
            for oid in it.objects:
                if (it.frame, oid) in decisions.chosen:
                    groups.setdefault((it.shot, char.get(oid, str(oid))), []).append((it.frame, oid))
        for (shot, name), candidates in groups.items():
            best = set(pick_best(candidates, decisions.signals, rules.best_k, rules.diverse))
            how = "spread over views" if rules.diverse else "by aesthetic score"
            for key in candidates:
                if key in best:
                    decisions.keep(key, f"best {rules.best_k} of {len(candidates)} for {name} in shot {shot} ({how})")
                else:
                    decisions.drop(key, f"not among the best {rules.best_k} for {name} in shot {shot} ({how})")
    out = []
    for it in items:
        objs = [oid for oid in it.objects if (it.frame, oid) in decisions.chosen]
        if objs:
            out.append(FrameItem(it.frame, it.shot, objs, {oid: it.areas[oid] for oid in objs}))
    return out


def _balance(project: Project, items: list[FrameItem], per_object: bool) -> list[FrameItem]:
    """Cap every character at the count of the rarest one, picking evenly over time."""
    key = {o.id: character_key(o) for o in project.manifest.objects}
    totals = Counter(key.get(i, str(i)) for it in items for i in it.objects)
    if not totals:
        return items
    cap = min(totals.values())
    if per_object:
        chosen: dict[str, set[tuple[int, int]]] = {}
        for char in totals:
            pairs = [(it.frame, i) for it in items for i in it.objects if key.get(i, str(i)) == char]
            chosen[char] = set(_evenly(pairs, cap))
        out = []
        for it in items:
            objs = [i for i in it.objects if (it.frame, i) in chosen[key.get(i, str(i))]]
            if objs:
                out.append(FrameItem(it.frame, it.shot, objs, {i: it.areas[i] for i in objs}))
        return out
    # Frames: rarest characters first claim their frames; a frame is kept while any of its
    # characters is still under the cap.
    count: Counter[str] = Counter()
    keep: set[int] = set()
    for char in sorted(totals, key=lambda c: (totals[c], c)):
        for it in items:
            chars = {key.get(i, str(i)) for i in it.objects}
            if char in chars and it.frame not in keep and count[char] < cap:
                keep.add(it.frame)
                count.update(chars)
    return [it for it in items if it.frame in keep]
