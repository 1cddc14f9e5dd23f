"""The project's objects: the one owner of ids, names, kinds, colours and per-shot tracks.

A project object is what the user cares about across the whole video (a character, an effect, a
prop, burnt-in text). The segment stage finds *tracks* whose ids restart in every shot; a
`TrackLink` says which object a track is, frame by frame. The label maps of the ``masks`` layer hold
project object ids, so nothing downstream ever sees a per-shot id.

State lives in the manifest (``objects``, ``tracks``); every change is a journal entry whose payload
holds a diff (each changed object and track, before and after) plus the label maps it rewrites
(computed in `app.store.object_masks`), so an edit is durable once it returns, replays after a
crash, and undo/redo are exact. Pipeline registrations are journalled too but are not on the user's
undo stack (undoing them would leave ids in the masks that no object owns).
"""

from __future__ import annotations

import colorsys
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from app.errors import InputError, ProjectError
from app.store import app_merges
from app.store.edits import JournalEntry, MaskEdit
from app.store.history_text import shot_number
from app.store.layers import label_counts
from app.store.manifest import ObjectInfo, TrackLink
from app.store.object_masks import TrackKey, relabel, retrack

if TYPE_CHECKING:
    from app.store.project import Project

KINDS: tuple[str, ...] = ("character", "effect", "prop", "text")
AUTO_NAMES: dict[str, str] = {"character": "Character", "effect": "Effect", "prop": "Prop", "text": "Text"}


class KindMismatch(InputError):
    """A merge of two objects of different kinds, not asked for (`ObjectStore.merge`'s ``allow_kinds``)."""


def merge_kinds_text(absorb: ObjectInfo, keep: ObjectInfo) -> str:
    """Why a merge of ``absorb`` into ``keep`` waits for the user's word: their kinds differ."""
    return (f"{absorb.name} is a {absorb.kind} and {keep.name} a {keep.kind}: merging them puts every pixel of "
            f"{absorb.name} in {keep.name}'s cut-outs as a {keep.kind}. Merge anyway only if they are one thing.")


def reassign_kinds_text(moved: list[ObjectInfo], to: ObjectInfo, where: str) -> str:
    """Why a reassignment of what is ``moved`` (``where``: "in shot 2", "from frame 9 to the end of shot 2")
    to ``to`` waits for the user's word: some of it is of another kind."""
    names = " and ".join(f"{o.name} is a {o.kind}" for o in moved)
    return (f"{names} and {to.name} a {to.kind}: reassigning puts {'their' if len(moved) > 1 else 'its'} pixels "
            f"{where} in {to.name}'s cut-outs as a {to.kind}. Reassign anyway only if they are one thing.")


MAX_OBJECTS = 255


def object_color(oid: int) -> tuple[int, int, int]:
    """A distinct, readable colour for object ``oid``.

    Golden-ratio steps round the hue wheel keep any run of consecutive ids far apart in hue; two
    saturation/value levels alternate so that neighbours also differ in brightness, and the value
    never drops below 0.8, so no colour reads as black against dark line art.
    """
    hue = (oid * 0.6180339887) % 1.0
    sat, val = (0.8, 0.95) if oid % 2 else (0.6, 0.82)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def info_from_dict(data: dict[str, Any]) -> ObjectInfo:
    return ObjectInfo(**{**data, "color": tuple(data.get("color", (255, 80, 80)))})


def _normalised(pieces: list[list[int]]) -> list[list[int]]:
    """Pieces in frame order without repeats of the same object in a row."""
    out: list[list[int]] = []
    for start, obj in sorted(pieces):
        if out and out[-1][0] == start:
            out[-1] = [start, obj]
        elif not out or out[-1][1] != obj:
            out.append([start, obj])
    return out


def apply_diff(project: Project, diff: dict[str, Any], *, reverse: bool = False) -> None:
    """Set every object and track the diff names to its ``after`` (``before`` when undoing) value."""
    manifest = project.manifest
    objects = {o.id: o for o in manifest.objects}
    for oid, before, after in diff.get("objects", []):
        value = before if reverse else after
        objects.pop(int(oid), None)
        if value is not None:
            objects[int(oid)] = info_from_dict(value)
    tracks = {(t.shot, t.track): t for t in manifest.tracks}
    for shot, track, before, after in diff.get("tracks", []):
        value = before if reverse else after
        tracks.pop((int(shot), int(track)), None)
        if value is not None:
            tracks[(int(shot), int(track))] = TrackLink(int(shot), int(track), [[int(a), int(b)] for a, b in value])
    manifest.objects = [objects[k] for k in sorted(objects)]
    manifest.tracks = [tracks[k] for k in sorted(tracks)]


class ObjectStore:
    """Reads and journalled edits of a project's objects and tracks (``project.objects``)."""

    def __init__(self, project: Project) -> None:
        self.project = project

    # -- reads --------------------------------------------------------------------------------------
    def all(self) -> list[ObjectInfo]:
        return list(self.project.manifest.objects)

    def get(self, oid: int) -> ObjectInfo | None:
        return next((o for o in self.project.manifest.objects if o.id == oid), None)

    def require(self, oid: int) -> ObjectInfo:
        info = self.get(oid)
        if info is None:
            raise InputError(f"The project has no object {oid}.")
        return info

    def tracks(self, shot: int | None = None) -> list[TrackLink]:
        return [t for t in self.project.manifest.tracks if shot is None or t.shot == shot]

    def track(self, shot: int, track: int) -> TrackLink | None:
        return next((t for t in self.project.manifest.tracks if (t.shot, t.track) == (shot, track)), None)

    def tracks_of(self, oid: int) -> list[TrackLink]:
        """Tracks that are ``oid`` in at least one frame."""
        return [t for t in self.project.manifest.tracks if any(obj == oid for _, obj in t.pieces)]

    def lut(self, shot: int, frame: int) -> np.ndarray:
        """``lut[track]`` is the project object of each track of ``shot`` on ``frame`` (0: none)."""
        table = np.zeros(256, np.uint8)
        for t in self.tracks(shot):
            table[t.track] = t.object_at(frame)
        return table

    def to_objects(self, shot: int, frame: int, tracks: np.ndarray) -> np.ndarray:
        """A per-shot track label map as project object ids."""
        # `cv2.LUT`: the same table lookup as ``lut[tracks]``, 4x cheaper on a 1080p map.
        return np.asarray(cv2.LUT(np.ascontiguousarray(tracks, np.uint8), self.lut(shot, frame)))

    def on_frames(self) -> dict[int, dict[int, int]]:
        """Frame -> {object: pixels} for every frame with masks, from the per-frame lists the layer store
        keeps as masks are written (`app.store.layers.LayerStore.present`): no label map is read."""
        return self.project.layers.present("masks")

    def frames_of(self, oid: int) -> list[int]:
        """The frames where ``oid`` has pixels, in order."""
        return [f for f, ids in sorted(self.on_frames().items()) if oid in ids]

    def seen(self) -> set[int]:
        """Every object with pixels on some frame."""
        return {oid for ids in self.on_frames().values() for oid in ids}

    def kinds(self) -> dict[int, str]:
        return {o.id: o.kind for o in self.project.manifest.objects}

    def ids_of_kind(self, *kinds: str) -> list[int]:
        return [o.id for o in self.project.manifest.objects if o.kind in kinds]

    # -- pipeline registration ----------------------------------------------------------------------
    def register_shot(self, shot: int, found: dict[int, str], links: dict[int, int | None] | None = None,
                      spans: dict[int, tuple[int, int, int]] | None = None) -> dict[int, int]:
        """Give every track of ``shot`` that has no link yet an object: the one ``links`` names (an
        existing object it was recognised as; 0: none, a stray the object list should not show), else
        a new automatically named one of its kind. ``spans``: track -> (first frame, end frame, object),
        an existing object the track is on frames [first, end) of the shot instead (a track that holds
        another character there), its link elsewhere.

        Tracks already linked keep their link (a re-run of the segment stage must not undo the user's edits).
        Returns track -> object for the whole shot (its object at the shot's first frame).
        """
        links = links or {}
        spans = spans or {}
        new_objects: dict[int, ObjectInfo] = {}
        new_tracks: dict[TrackKey, list[list[int]]] = {}
        held: tuple[set[int], set[str]] | None = None  # read from the journal once, at the first new object
        for track, kind in sorted(found.items()):
            if self.track(shot, track) is not None:
                continue
            target = links.get(track)
            if target != 0 and (target is None or self.get(target) is None):
                held = held or self._stack_mentions(maps=False)
                info = self._new_object(kind, new_objects, held=held)
                new_objects[info.id] = info
                target = info.id
            pieces = [[shot, target]]
            if (span := spans.get(track)) is not None and self.get(span[2]) is not None:
                first, end, obj = span
                pieces = [*([[shot, target]] if first > shot else []), [first, obj]]
                if end < self.project.shot_of(shot).end:
                    pieces.append([end, target])
            new_tracks[(shot, track)] = _normalised(pieces)
        if new_tracks:
            self._commit("register", [], new_objects, new_tracks, undoable=False)
        return {t.track: t.object_at(shot) for t in self.tracks(shot)}

    def forget_tracks(self, shot: int, tracks: list[int]) -> None:
        """Drop the links of tracks whose id now means something else (the segment stage re-ran on a changed
        shot or with another backend); registration then links them afresh."""
        gone = {(shot, t): None for t in tracks if self.track(shot, t) is not None}
        if gone:
            self._commit("register", [], {}, gone, undoable=False, extra={"forget": sorted(t for _, t in gone)})

    def drop_unseen(self) -> JournalEntry | None:
        """Automatic objects that nothing shows any more leave the list (after a re-run of stage 1).

        A re-run of the segment stage keeps the links of tracks it no longer finds, so that the user's
        edits of them (names, merges, reassignments) survive it. An object goes only when all of these
        hold: the user never named or confirmed it, no edit the user can still undo or redo mentions it
        (by id, in a track link, or in a label map it wrote), it has no pixels in the masks of any frame,
        and no track linked to it is in its shot's current segmentation (its masks may just not be
        written yet). The links of its tracks go with it (they hold nothing of the user's; a track that
        comes back is registered afresh). Like registration, this is the pipeline's, not on the undo
        stack; it is journalled, so it replays after a crash. A named object with no pixels stays
        listed (greyed, "no frames") until the user deletes it. None when nothing goes.
        """
        candidates = {o.id for o in self.all() if not o.confirmed} - self.seen()
        if candidates:
            candidates -= self._live_objects()
        if candidates:
            candidates -= self._user_objects()
        if not candidates:
            return None
        tracks: dict[TrackKey, list[list[int]] | None] = {}
        for t in self.project.manifest.tracks:
            objs = {o for _, o in t.pieces}
            if objs & candidates:
                mixed = _normalised([[s, 0 if o in candidates else o] for s, o in t.pieces])
                tracks[(t.shot, t.track)] = None if objs <= candidates | {0} else mixed
        return self._commit("register", [], dict.fromkeys(sorted(candidates)), tracks, undoable=False,
                            extra={"dropped": sorted(candidates)})

    def _live_objects(self) -> set[int]:
        """Objects of tracks the segment stage's current labels hold (every object of a shot with none)."""
        starts = [s.start for s in self.project.shots]
        found: dict[int, set[int]] = {s: set() for s in starts}
        written: set[int] = set()
        for f, ids in self.project.layers.present("segmentation").items():
            start = starts[max(0, bisect_right(starts, f) - 1)]
            found[start].update(ids)
            written.add(start)
        return {o for t in self.project.manifest.tracks if t.shot not in written or t.track in found.get(t.shot, set())
                for _, o in t.pieces if o}

    def _user_objects(self) -> set[int]:
        """Objects the edits on the user's undo and redo stacks mention: by id (the edit's object, a
        merge's, a reassignment's target), in the objects and track links their diffs change, or in the
        label maps they write (an undo or redo brings those pixels back, so their object must stay).
        Each id as an undo or redo would restore it: mapped through the app's merges since the edit
        (`app.store.app_merges`)."""
        return self._stack_mentions(maps=True)[0]

    def _stack_mentions(self, *, maps: bool) -> tuple[set[int], set[str]]:
        """The ids (see `_user_objects`; the label maps read only with ``maps``) and the object names
        that the edits on the user's undo and redo stacks mention."""
        history = self.project.history
        reachable = set(history.done) | set(history.undone)
        if not reachable:
            return set(), set()
        tables = app_merges.tables_since(self.project.journal, reachable)
        ids: set[int] = set()
        names: set[str] = set()
        for entry in self.project.journal:
            if entry.seq not in reachable:
                continue
            mentioned = entry.named_objects()
            diff = entry.object_diff
            for _, *values in diff.get("objects", []):
                names.update(str(v["name"]) for v in values if isinstance(v, dict) and "name" in v)
            for *_, before, after in diff.get("tracks", []):
                mentioned.update(int(o) for _, o in [*(before or []), *(after or [])])
            if maps:
                for edit in entry.edits:
                    for labels in (edit.before, edit.after):
                        mentioned.update(label_counts(labels))
            ids |= app_merges.mapped_ids(tables[entry.seq], mentioned)
        ids.discard(0)
        return ids, names

    def _new_object(self, kind: str, pending: dict[int, ObjectInfo], name: str | None = None, *,
                    held: tuple[set[int], set[str]] | None = None) -> ObjectInfo:
        if kind not in KINDS:
            raise InputError(f"An object's kind is one of {', '.join(KINDS)}, not {kind!r}.")
        used = {o.id for o in self.project.manifest.objects} | set(pending)
        # An id or name an undo or redo on the user's stacks can bring back is not given to a new object
        # (registration's are off the stacks, so they are not undone first): that undo would make the
        # two one object, and its redo leave the new one's pixels with no object listed.
        held_ids, held_names = held or self._stack_mentions(maps=False)
        taken = used | held_ids
        free = next((i for i in range(1, MAX_OBJECTS + 1) if i not in taken), None)
        if free is None:  # every id is taken or held: a held one rather than none
            free = next((i for i in range(1, MAX_OBJECTS + 1) if i not in used), None)
        if free is None:
            raise ProjectError(f"A project can hold at most {MAX_OBJECTS} objects; merge or delete some first.")
        names = {o.name for o in self.project.manifest.objects} | {o.name for o in pending.values()} | held_names
        if name is None:
            base = AUTO_NAMES[kind]
            name = next(f"{base} {n}" for n in range(1, MAX_OBJECTS + 2) if f"{base} {n}" not in names)
        return ObjectInfo(free, name, kind, object_color(free), confirmed=False)

    # -- user edits (each one journalled, undoable entry) -------------------------------------------
    def add(
        self, name: str = "", kind: str = "character", color: tuple[int, int, int] | None = None, *,
        oid: int | None = None, undoable: bool = True,
    ) -> ObjectInfo:
        """A new object the user made (confirmed when the user named it). ``oid`` lists an id that is
        already in the masks but not yet in the object list (masks written before objects were
        registered), so that it can be named; that is journalled like any other edit, and off the undo
        stack with ``undoable=False`` (the app listing what a click selected: no edit of the user's)."""
        info = self._new_object(kind, {}, name or None)
        if oid is not None:
            if self.get(oid) is not None:
                raise InputError(f"Object {oid} is already in the object list.")
            if not 1 <= oid <= MAX_OBJECTS:
                raise InputError(f"An object id is between 1 and {MAX_OBJECTS}, not {oid}.")
            info.id, info.color = oid, object_color(oid)
        info.confirmed = bool(name)
        if color is not None:
            info.color = color
        self._commit("add_object", [], {info.id: info}, {}, undoable=undoable)
        return info

    def rename(self, oid: int, name: str) -> JournalEntry:
        """Rename (and so confirm) an object: the name holds in every shot the object appears in."""
        name = name.strip()
        if not name:
            raise InputError("An object needs a name.")
        info = self.require(oid)
        return self._commit("rename", [], {oid: ObjectInfo(**{**asdict(info), "name": name, "confirmed": True})}, {})

    def confirm(self, oid: int, confirmed: bool = True) -> JournalEntry:
        info = self.require(oid)
        return self._commit("confirm", [], {oid: ObjectInfo(**{**asdict(info), "confirmed": confirmed})}, {})

    def recolor(self, oid: int, color: tuple[int, int, int]) -> JournalEntry:
        info = self.require(oid)
        rgb = (int(color[0]), int(color[1]), int(color[2]))
        return self._commit("recolor", [], {oid: ObjectInfo(**{**asdict(info), "color": rgb})}, {})

    def set_kind(self, oid: int, kind: str) -> JournalEntry:
        """Make ``oid`` a ``kind`` (one undoable edit; its masks stay as they are). The stages that read
        kinds go stale on the frames it is on (`app.pipeline.graph.KIND_VIEWS`): its ``found_kind``
        keeps the kind it had before the first change, which the results made until then were made with."""
        if kind not in KINDS:
            raise InputError(f"An object's kind is one of {', '.join(KINDS)}, not {kind!r}.")
        info = self.require(oid)
        if kind == info.kind:
            raise InputError(f"{info.name} is a {kind} already.")
        found = info.found_kind if info.found_kind is not None else info.kind
        return self._commit("set_kind", [], {oid: ObjectInfo(**{**asdict(info), "kind": kind, "found_kind": found})}, {})

    def merge(self, keep: int, absorb: int, *, undoable: bool = True, allow_kinds: bool = False) -> JournalEntry:
        """``absorb`` becomes ``keep`` in every frame and shot; ``keep``'s name and colour stay.
        Registration's own merges (two objects found to be one character) are not the user's to undo.
        Objects of different kinds (a text into a character: a comparison clip's panel labels in the
        character's cut-outs) merge only with ``allow_kinds``; without it `KindMismatch` says so."""
        kept, absorbed = self.require(keep), self.require(absorb)
        if keep == absorb:
            raise InputError("Choose two different objects to merge.")
        if kept.kind != absorbed.kind and not allow_kinds:
            raise KindMismatch(merge_kinds_text(absorbed, kept))
        tracks = {
            (t.shot, t.track): [[s, keep if o == absorb else o] for s, o in t.pieces] for t in self.tracks_of(absorb)
        }
        edits = relabel(self.project, range(self.project.frame_count), {absorb: keep}, keep)
        return self._commit(
            "merge", edits, {absorb: None}, tracks, undoable=undoable, extra={"keep": keep, "absorb": absorb}
        )

    def split(self, oid: int, shots: Iterable[int], name: str | None = None) -> ObjectInfo:
        """Move ``oid``'s appearances in ``shots`` (shot start frames) to a new object."""
        info = self.require(oid)
        starts = sorted({self.project.shot_of(s).start for s in shots})
        if not starts:
            raise InputError("Choose at least one shot to split off.")
        if len(starts) == 1 and not self._appears_outside(oid, starts[0], self.project.shot_of(starts[0]).end):
            # It would only move every pixel to a new object and leave this one listed with none.
            raise InputError(f"{info.name} is only in this shot, so there is nothing to split it from. Rename it, "
                             "or move part of it to another object with Reassign.")
        new = self._new_object(info.kind, {}, name)
        tracks = {
            (t.shot, t.track): [[s, new.id if o == oid else o] for s, o in t.pieces]
            for t in self.tracks_of(oid) if t.shot in starts
        }
        frames = [f for s in starts for f in range(s, self.project.shot_of(s).end)]
        edits = relabel(self.project, frames, {oid: new.id}, new.id)
        self._commit("split", edits, {new.id: new}, tracks, extra={"object": oid, "shots": starts})
        return new

    def reassign(self, frame: int, oid: int, to: int, *, to_end: bool = False, allow_kinds: bool = False) -> JournalEntry:
        """What is ``oid`` on ``frame`` becomes ``to`` in the whole shot, or from ``frame`` to its end.
        Like `merge`, moving an object of another kind into ``to`` (a text's track into a character)
        needs ``allow_kinds``; without it `KindMismatch` says so (`reassign_kinds` gives the reason)."""
        shot = self.project.shot_of(frame)
        keys = self._tracks_on(frame, oid)
        return self.reassign_tracks(shot.start, keys, to, from_frame=frame if to_end else None, allow_kinds=allow_kinds)

    def reassign_kinds(self, frame: int, oid: int, to: int, *, to_end: bool = False) -> str | None:
        """Why `reassign` of ``oid`` on ``frame`` to ``to`` would be refused unasked (the objects it
        moves are of another kind than ``to``), or None when it would not."""
        shot = self.project.shot_of(frame)
        return self._kinds_reason(shot.start, self._tracks_on(frame, oid), to, shot.start if not to_end else frame)

    def _tracks_on(self, frame: int, oid: int) -> list[int]:
        keys = [t.track for t in self.tracks(self.project.shot_of(frame).start) if t.object_at(frame) == oid]
        if not keys:
            who = info.name if (info := self.get(oid)) is not None else f"Object {oid}"
            raise InputError(f"{who} was not found by the segment stage on frame {frame + 1}; correct its mask instead.")
        return keys

    def _kinds_reason(self, shot_start: int, tracks: list[int], to: int, start: int) -> str | None:
        """The reason (`reassign_kinds_text`) when some object ``tracks`` are from ``start`` to their
        shot's end is of another kind than ``to``; None when all are of its kind (or ``to`` is 0)."""
        target = self.get(to) if to else None
        if target is None:
            return None
        shot = self.project.shot_of(shot_start)
        moved: dict[int, ObjectInfo] = {}
        for track in tracks:
            link = self.track(shot.start, track)
            if link is None:
                continue
            objs = {link.object_at(start)} | {o for s, o in link.pieces if start < s < shot.end}
            for oid in sorted(objs - {0, to}):
                info = self.get(oid)
                if info is not None and info.kind != target.kind:
                    moved[oid] = info
        if not moved:
            return None
        where = (f"in shot {shot_number(self.project, shot.start)}" if start == shot.start else
                 f"from frame {start + 1} to the end of shot {shot_number(self.project, shot.start)}")
        return reassign_kinds_text([moved[k] for k in sorted(moved)], target, where)

    def reassign_tracks(self, shot_start: int, tracks: list[int], to: int, *, from_frame: int | None = None,
                        allow_kinds: bool = False) -> JournalEntry:
        """Tracks of one shot become object ``to`` (0: nothing) in the whole shot or from ``from_frame`` on.
        Tracks that are an object of another kind than ``to`` there move only with ``allow_kinds``."""
        shot = self.project.shot_of(shot_start)
        if to:
            self.require(to)
        start = shot.start if from_frame is None else from_frame
        if start not in shot:
            raise InputError(f"Frame {start + 1} is not in shot {shot_number(self.project, shot.start)} "
                             f"(frames {shot.start + 1}-{shot.end}).")  # numbered from 1, as the app shows them
        if not allow_kinds and (reason := self._kinds_reason(shot.start, tracks, to, start)) is not None:
            raise KindMismatch(reason)
        new_links: dict[TrackKey, list[list[int]]] = {}
        for track in tracks:
            link = self.track(shot.start, track)
            if link is None:
                raise InputError(f"Shot {shot_number(self.project, shot.start)} has no track {track}.")
            new_links[(shot.start, track)] = _normalised([p for p in link.pieces if p[0] < start] + [[start, to]])
        edits = retrack(self.project, shot, range(start, shot.end), self.tracks(shot.start), new_links)
        return self._commit("reassign", edits, {}, new_links, extra={"shot": shot.start, "tracks": tracks, "to": to, "from": start})

    def delete(self, oid: int, *, shot: int | None = None) -> JournalEntry:
        """Delete ``oid`` everywhere (it leaves the list) or only in the shot holding frame ``shot``."""
        self.require(oid)
        if shot is None:
            frames: Iterable[int] = range(self.project.frame_count)
            links = self.tracks_of(oid)
            objects: dict[int, ObjectInfo | None] = {oid: None}
        else:
            s = self.project.shot_of(shot)
            frames = range(s.start, s.end)
            links = [t for t in self.tracks_of(oid) if t.shot == s.start]
            # Deleted from the only shot it is in, it leaves the list too (and comes back on undo).
            objects = {} if self._appears_outside(oid, s.start, s.end) else {oid: None}
        # Tracks stay known (as nothing) so a re-run of the segment stage does not bring the object back.
        tracks = {(t.shot, t.track): [[s_, 0 if o == oid else o] for s_, o in t.pieces] for t in links}
        edits = relabel(self.project, frames, {oid: 0}, oid)
        return self._commit("delete_object", edits, objects, tracks, extra={"object_id": oid, "shot": shot})

    # -- internals ----------------------------------------------------------------------------------
    def _appears_outside(self, oid: int, start: int, end: int) -> bool:
        """Whether ``oid`` is linked to a track of another shot or has pixels outside frames start..end-1."""
        if any(t.shot != start for t in self.tracks_of(oid)):
            return True
        return any(oid in ids and not start <= f < end for f, ids in self.on_frames().items())

    def _commit(
        self, kind: str, edits: list[MaskEdit], objects: Mapping[int, ObjectInfo | None],
        tracks: Mapping[TrackKey, list[list[int]] | None], *, undoable: bool = True, extra: dict[str, Any] | None = None,
    ) -> JournalEntry:
        diff = {
            "objects": [
                [oid, asdict(b) if (b := self.get(oid)) else None, asdict(a) if a else None]
                for oid, a in sorted(objects.items())
            ],
            "tracks": [
                [s, t, (link.pieces if (link := self.track(s, t)) else None), pieces]
                for (s, t), pieces in sorted(tracks.items())
            ],
        }
        payload = {**(extra or {}), "diff": diff, "undoable": undoable}
        return self.project.commit(kind, edits, payload)
