"""What a journalled edit did, in the words the app's status line uses after an undo or a redo
("Undid: brush on Character 1, frame 34."). Frames and shots are numbered from 1, as the app shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.store.edits import JournalEntry
from app.words import counted

if TYPE_CHECKING:
    from app.store.project import Project

_MASK_EDITS = {"click": "click correction", "brush": "brush", "erase": "eraser"}
_OBJECT_FIELDS = {"recolor": "colour", "confirm": "confirmation", "set_kind": "kind"}


def shot_number(project: Project, frame: int) -> int:
    """The number the app shows for the shot holding ``frame`` (from 1)."""
    for index, shot in enumerate(project.shots):
        if frame in shot:
            return index + 1
    return 0


def frame_span(frames: tuple[int, ...] | list[int]) -> str:
    """``frame 34`` / ``frames 30-45`` / ``frames 3, 9 and 12`` / ``123 frames in 42-190`` (from 1)."""
    shown = sorted(f + 1 for f in frames)
    if not shown:
        return "no frame"
    if len(shown) == 1:
        return f"frame {shown[0]}"
    if shown[-1] - shown[0] == len(shown) - 1:
        return f"frames {shown[0]}-{shown[-1]}"
    if len(shown) <= 4:
        return f"frames {', '.join(map(str, shown[:-1]))} and {shown[-1]}"
    return f"{counted(len(shown), 'frame')} in {shown[0]}-{shown[-1]}"


def _rows(entry: JournalEntry) -> dict[int, tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    out: dict[int, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
    for row in entry.object_diff.get("objects", []):
        oid, before, after = row
        out[int(oid)] = (before if isinstance(before, dict) else None, after if isinstance(after, dict) else None)
    return out


def _name(project: Project, entry: JournalEntry, oid: int, *, before: bool = False) -> str:
    """The object's name: as the edit's diff recorded it (before or after the edit), else as listed now."""
    if not oid:
        return "nothing"
    rows = _rows(entry).get(oid)
    if rows is not None:
        first, second = rows if before else (rows[1], rows[0])
        for info in (first, second):
            if info and info.get("name"):
                return str(info["name"])
    listed = project.object(oid)
    return listed.name if listed is not None else f"object {oid}"


def describe_edit(project: Project, entry: JournalEntry) -> str:
    """One line for ``entry`` (the edit an undo or redo revisited), e.g. "brush on Luffy, frame 34",
    "merge of Character 2 into Luffy", "propagation from frame 34 (frames 30-45)"."""
    kind, payload = entry.kind, entry.payload
    oid = payload.get("object_id")
    if kind in _MASK_EDITS:
        who = _name(project, entry, int(oid)) if isinstance(oid, int) else "an object"
        return f"{_MASK_EDITS[kind]} on {who}, {frame_span(entry.frames)}"
    if kind == "propagate":
        start = payload.get("from")
        where = f" from frame {int(start) + 1}" if isinstance(start, int) else ""
        return f"propagation{where} ({frame_span(entry.frames)})"
    rows = _rows(entry)
    if kind == "rename" and rows:
        changed = next(iter(rows))
        return f"rename of {_name(project, entry, changed, before=True)} to {_name(project, entry, changed)}"
    if kind == "set_kind" and rows:
        changed = next(iter(rows))
        was, now = (str(info.get("kind", "?")) if info else "?" for info in rows[changed])
        return f"kind of {_name(project, entry, changed)} ({was} -> {now})"
    if kind in _OBJECT_FIELDS and rows:
        return f"{_OBJECT_FIELDS[kind]} of {_name(project, entry, next(iter(rows)))}"
    if kind == "merge":
        keep, absorb = int(payload.get("keep", 0)), int(payload.get("absorb", 0))
        return f"merge of {_name(project, entry, absorb, before=True)} into {_name(project, entry, keep)}"
    if kind == "split":
        whose = int(payload.get("object", 0))
        shots = [shot_number(project, int(s)) for s in payload.get("shots", [])]
        where = f" in {'shot' if len(shots) == 1 else 'shots'} {', '.join(map(str, shots))}" if shots else ""
        return f"split of {_name(project, entry, whose)}{where}"
    if kind == "reassign":
        start, shot = payload.get("from"), payload.get("shot")
        where = f"shot {shot_number(project, int(shot))}" if isinstance(shot, int) else "a shot"
        if isinstance(start, int) and isinstance(shot, int) and start != shot:
            where += f" from frame {start + 1}"
        return f"reassignment in {where} to {_name(project, entry, int(payload.get('to', 0)))}"
    if kind == "delete_object" and isinstance(oid, int):
        shot = payload.get("shot")
        where = f" in shot {shot_number(project, int(shot))}" if isinstance(shot, int) else " everywhere"
        return f"deletion of {_name(project, entry, oid, before=True)}{where}"
    if kind == "add_object" and rows:
        return f"new object {_name(project, entry, next(iter(rows)))}"
    what = kind.replace("_", " ")
    return f"{what} ({frame_span(entry.frames)})" if entry.frames else what


def history_outcome(project: Project, which: str, entry: JournalEntry | None) -> str:
    """The status line after an undo or redo ran: what it undid or redid, or that there was nothing.
    ``entry`` is what `Project.undo` / `Project.redo` returned (its payload names the edit revisited)."""
    if entry is None:
        return f"Nothing to {which}."
    seq = int(entry.payload["target"])
    target = next((e for e in project.journal.entries if e.seq == seq), None)
    verb = "Undid" if which == "undo" else "Redid"
    return f"{verb}: {describe_edit(project, target) if target is not None else 'an edit'}."


def edit_outcome(project: Project, entries: list[JournalEntry]) -> str:
    """The status line after an object edit ran (rename, merge, split, reassign, delete): what it did,
    and that Ctrl+Z undoes it ("Done: merge of Character 2 into Luffy. Ctrl+Z undoes it."); empty when
    it journalled no edit of the user's."""
    mine = [e for e in entries if e.payload.get("undoable", True)]
    if not mine:
        return ""
    return f"Done: {describe_edit(project, mine[-1])}. Ctrl+Z undoes it."


GREW_MUCH = 2.0  # a click that more than doubles its object says so: it may have taken background
FIRST_CLICK_SHARE = 0.1  # a click that starts an object on more than this share of the frame says how much


def click_outcome(project: Project, entry: JournalEntry) -> str:
    """The status line after a click correction: its object's pixels before and after on the frame
    ("Click correction on Hero, frame 41: 35,966 -> 138,205 px."), and when the click more than doubled
    the object (konobi_s01e007: a click beside a character took the whole door behind it), that Ctrl+Z
    undoes it. A click that starts an object (none of it on the frame before) has nothing to double:
    when it takes more than `FIRST_CLICK_SHARE` of the frame it says how much (konobi_s01e012: a first
    click on the boy's hair took 51,743 px, 15% of the frame, mostly sky)."""
    if not entry.edits:
        return ""
    edit = entry.edits[0]
    oid = int(edit.object_id)
    before, after = int((edit.before == oid).sum()), int((edit.after == oid).sum())
    line = f"Click correction on {_name(project, entry, oid)}, frame {edit.frame + 1}: {before:,} -> {after:,} px."
    if before and after > GREW_MUCH * before:
        line += f" It grew {after / before:.1f}x - if it took background, Ctrl+Z undoes it."
    elif not before and after > FIRST_CLICK_SHARE * edit.after.size:
        line += f" It covers {100 * after / edit.after.size:.0f}% of the frame - if it took background, Ctrl+Z undoes it."
    return line
