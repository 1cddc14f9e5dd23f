"""What undo and redo restore, mapped through the app's own merges journalled since the edit.

Registration merges two objects it finds to be one character (`app.pipeline.register.join_objects`:
``merge(keep, absorb, undoable=False)``). Such a merge is the app's, not the user's: it is journalled
(it replays after a crash) but it is not on the undo stack, and it does not clear the redo stack.
The user's own edits made before it still are, and what they restore was written before the absorbed
object was gone: a label map holding its id, a track piece or an object entry naming it. Undo and redo
therefore map what they restore through every such merge journalled after their target, in order
(absorbed -> kept), so that no frame ever holds an object the list no longer has, and the merge's
result stays.

An app merge that a journal written before this rule had undone (and not redone) by a user's Ctrl+Z
maps nothing: its absorbed object is listed again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from app.store.edits import JournalEntry, MaskEdit

Table = np.ndarray  # uint8[256]: table[id] is the object that holds id's pixels now


def is_app_merge(entry: JournalEntry) -> bool:
    """A merge made by the app (registration), not by the user."""
    p = entry.payload
    return (entry.kind == "merge" and p.get("undoable") is False
            and isinstance(p.get("keep"), int) and isinstance(p.get("absorb"), int))


def tables_since(entries: Iterable[JournalEntry], seqs: Collection[int]) -> dict[int, Table | None]:
    """For each of ``seqs``: the id each object id of that entry's time maps to through every app
    merge journalled after it, in order (None where no merge came after it). One pass over the journal."""
    entries = list(entries)
    undone: dict[int, bool] = {}  # app merges a journal from before this rule undid (last undo/redo wins)
    merges = {e.seq for e in entries if is_app_merge(e)}
    for e in entries:
        target = e.payload.get("target")
        if e.kind in ("undo", "redo") and target in merges:
            undone[int(target)] = e.kind == "undo"
    wanted = set(seqs)
    out: dict[int, Table | None] = {}
    table: Table | None = None  # the merges after the current position, composed in order
    for e in reversed(entries):
        if e.seq in wanted:
            out[e.seq] = table
        if e.seq in merges and not undone.get(e.seq, False):
            step = np.arange(256, dtype=np.uint8)
            step[int(e.payload["absorb"])] = int(e.payload["keep"])
            # This merge comes first, the later ones (already in ``table``) after it.
            table = step if table is None else table[step]
    return {s: out.get(s) for s in wanted}


def table_since(entries: Iterable[JournalEntry], seq: int) -> Table | None:
    return tables_since(entries, (seq,))[seq]


def map_edit(table: Table | None, edit: MaskEdit) -> MaskEdit:
    """``edit`` with the ids of both its maps (and its object) mapped through ``table``."""
    if table is None:
        return edit
    before, after = edit.before, edit.after
    if not (np.any(table[before] != before) or np.any(table[after] != after) or table[edit.object_id] != edit.object_id):
        return edit
    return MaskEdit(edit.frame, table[before], table[after], int(table[edit.object_id]), edit.source, edit.before_source)


def map_diff(table: Table | None, diff: dict[str, Any]) -> dict[str, Any]:
    """An object diff (`app.store.objects`) with what an app merge changed since mapped: the entries
    of absorbed objects dropped (they are gone; their pixels and tracks are the kept one's), track
    pieces naming them naming the kept object."""
    if table is None:
        return diff

    def pieces(value: list[list[int]] | None) -> list[list[int]] | None:
        if value is None:
            return None
        out: list[list[int]] = []
        for start, obj in sorted([int(s), int(table[int(o)])] for s, o in value):
            if not out or out[-1][1] != obj:
                out.append([start, obj])
        return out

    return {
        **diff,
        "objects": [list(row) for row in diff.get("objects", []) if int(table[int(row[0])]) == int(row[0])],
        "tracks": [[s, t, pieces(b), pieces(a)] for s, t, b, a in diff.get("tracks", [])],
    }


def mapped_ids(table: Table | None, ids: Iterable[int]) -> set[int]:
    return {int(table[i]) if table is not None else int(i) for i in ids}
