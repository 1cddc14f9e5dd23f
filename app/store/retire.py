"""Undo history a re-run made stale: retired from the stacks when the pipeline replaces what it restores.

An edit journals whole label maps (and track links); undoing it writes its ``before`` back. A forced
re-run of stage 1 rewrites the pipeline's frames (a merge, split, delete or reassignment leaves the
frames it relabels the pipeline's) and relinks tracks whose id now means something else
(`ObjectStore.forget_tracks`). Undoing an edit made before such a re-run would write back pixels and
links from before it: what the re-run replaced. Rebuilding those from the pipeline inside an undo is
another matter; what editors do when a destructive operation replaces what an old step refers to is
drop that step from the history, and say so. So at the end of each stage-1 stage (`retire_replaced`):

- an entry on the undo or redo stack is retired when the pipeline wrote the masks of one of its frames
  after it (the frame's masks carry no journal seq: every journalled write records its entry's), or
  registration forgot the link of a track its diff changes after it;
- and with it every entry the stack would revisit after it that shares a frame or a track with it, or
  names an object it created or removed (undoing that one would step over the retired one's result);
- the retirement is one journalled entry of the app's (kind ``retire``, off the stacks, clearing
  nothing else), so the stacks are the same after reopening or a recovery (`UndoHistory.observe`).

Registration's merges write their maps through the journal, so they retire nothing by themselves;
entries touching only frames the re-run left alone (the user's own frames) stay undoable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.store.edits import JournalEntry
from app.words import history_cleared

if TYPE_CHECKING:
    from app.store.project import Project

RETIRE = "retire"


def _forgotten_after(entries: list[JournalEntry], seqs: set[int]) -> dict[int, set[tuple[int, int]]]:
    """For each of ``seqs``: the track links registration forgot after that entry."""
    out: dict[int, set[tuple[int, int]]] = {}
    gone: set[tuple[int, int]] = set()
    for e in reversed(entries):
        if e.seq in seqs:
            out[e.seq] = set(gone)
        if e.kind == "register" and e.payload.get("forget"):
            gone.update((int(s), int(t)) for s, t, *_ in e.object_diff.get("tracks", []))
    return out


def _mentions(entry: JournalEntry) -> tuple[set[int], set[tuple[int, int]], set[int], set[int]]:
    """The frames, track keys, objects (every id it names) and the objects it created or removed."""
    diff = entry.object_diff
    tracks = {(int(s), int(t)) for s, t, *_ in diff.get("tracks", [])}
    made = {int(oid) for oid, before, after in diff.get("objects", []) if before is None or after is None}
    return set(entry.frames), tracks, made | entry.named_objects(), made


def replaced_entries(project: Project) -> tuple[list[int], list[int]]:
    """The seqs of the entries on the user's stacks that a pipeline write replaced (and those that
    depend on them), and the starts of the shots whose re-run replaced them."""
    history = project.history
    reachable = set(history.done) | set(history.undone)
    if not reachable:
        return [], []
    entries = list(project.journal)
    by_seq = {e.seq: e for e in entries if e.seq in reachable}
    meta = project.layers.all_meta("masks")
    forgotten = _forgotten_after(entries, reachable)
    direct: dict[int, set[int]] = {}  # seq -> shot starts of what was replaced
    for seq, e in by_seq.items():
        rewritten = [f for f in e.frames if (m := meta.get(f)) and "seq" not in m]
        relinked = _mentions(e)[1] & forgotten.get(seq, set())
        if rewritten or relinked:
            direct[seq] = {project.shot_of(f).start for f in rewritten} | {s for s, _ in relinked}
    if not direct:
        return [], []
    retired = set(direct)
    for stack in (history.done, history.undone):
        # What the retired entries above wrote (frames, links) or listed and unlisted (objects), which
        # an entry revisited after them would step over.
        frames: set[int] = set()
        tracks: set[tuple[int, int]] = set()
        objects: set[int] = set()
        for seq in reversed(stack):  # from the top: the order the stack is revisited in
            if seq not in by_seq:
                continue
            f, t, named, made = _mentions(by_seq[seq])
            if seq in retired or f & frames or t & tracks or named & objects:
                retired.add(seq)
                frames, tracks, objects = frames | f, tracks | t, objects | made
    shots = sorted({s for starts in direct.values() for s in starts})
    return sorted(retired), shots


def retire_replaced(project: Project) -> JournalEntry | None:
    """Journal the retirement of the entries a pipeline write replaced (`replaced_entries`); None when
    none was. Called by the runner after each stage of stage 1 has landed."""
    retired, shots = replaced_entries(project)
    if not retired:
        return None
    return project.commit(RETIRE, [], {"retired": retired, "shots": shots, "undoable": False})


def cleared_notice(project: Project, entry: JournalEntry) -> str:
    """What the app says about a retirement (``entry``, kind ``retire``): the shots whose re-run cleared
    undo history, numbered as the app shows them."""
    starts = {int(s) for s in entry.payload.get("shots", [])}
    return history_cleared([i + 1 for i, shot in enumerate(project.shots) if shot.start in starts] or [1])
