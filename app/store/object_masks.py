"""The label maps an object edit rewrites: ids mapped to other ids (merge, split, delete), or a
track's pixels moved to another object (reassign). Each changed frame becomes one `MaskEdit`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from app.store.edits import MaskEdit
from app.store.manifest import Shot, TrackLink

if TYPE_CHECKING:
    from app.store.project import Project

TrackKey = tuple[int, int]  # (shot start, track id)


def _edit(project: Project, frame: int, change: Callable[[np.ndarray], np.ndarray | None], oid: int) -> MaskEdit | None:
    before = project.layers.read("masks", frame)
    if before is None:
        return None
    after = change(before)
    if after is None or np.array_equal(after, before):
        return None
    # The edit keeps the frame's owner: a pipeline frame stays the pipeline's (stages may redo it,
    # mapping through the new links), a corrected frame stays the user's.
    source = str(project.layers.meta("masks", frame).get("source", "pipeline"))
    return MaskEdit(frame, before, after.astype(np.uint8), oid, source, source)


def relabel(project: Project, frames: Iterable[int], mapping: dict[int, int], oid: int) -> list[MaskEdit]:
    """The edits that map the object ids of ``mapping`` to their new ids (0: nothing) on ``frames``."""
    table = np.arange(256, dtype=np.uint8)
    for a, b in mapping.items():
        table[a] = b

    def change(before: np.ndarray) -> np.ndarray | None:
        return table[before] if np.isin(before, list(mapping)).any() else None

    return [e for f in holding(project, frames, set(mapping)) if (e := _edit(project, f, change, oid)) is not None]


def holding(project: Project, frames: Iterable[int], ids: set[int]) -> list[int]:
    """The frames of ``frames`` whose masks may hold one of ``ids``: those the per-frame lists kept as
    masks are written (`app.store.layers.LayerStore.present`) say hold one, and any written frame
    without a list (a damaged map: reading it reports it, as before the lists). A merge or a delete
    over the whole episode reads only the maps it changes."""
    listed = project.layers.present("masks")
    versions = project.layers.versions("masks")
    return [f for f in frames if (not ids.isdisjoint(listed[f]) if f in listed else bool(versions[f]))]


def retrack(
    project: Project, shot: Shot, frames: Iterable[int], links: list[TrackLink], new_links: dict[TrackKey, list[list[int]]]
) -> list[MaskEdit]:
    """Rewrite masks where a track's object changes: its pixels are those of its old object, or
    (when another track is that object too, or it was nothing) the track's own pixels in the segment
    stage's labels. ``links`` are the shot's track links before the edit."""
    old = {t.track: t for t in links}
    new = {**old, **{k[1]: TrackLink(k[0], k[1], v) for k, v in new_links.items()}}
    edits = []
    for f in frames:
        before_of = {t: link.object_at(f) for t, link in old.items()}
        after_of = {t: link.object_at(f) for t, link in new.items()}
        changed = [t for t in old if before_of[t] != after_of[t]]
        if not changed:
            continue
        segmentation = project.layers.read("segmentation", f)

        def change(before: np.ndarray, f: int = f, seg: np.ndarray | None = segmentation,
                   changed: list[int] = changed, b: dict[int, int] = before_of, a: dict[int, int] = after_of) -> np.ndarray:
            after = before.copy()
            for t in changed:
                shared = b[t] == 0 or any(b[o] == b[t] and a[o] != a[t] for o in old if o != t)
                region = before == b[t]
                if shared:
                    region &= (seg == t) if seg is not None else np.zeros_like(region)
                after[region] = a[t]
            return after

        edit = _edit(project, f, change, next((a for a in (after_of[t] for t in changed) if a), 0))
        if edit is not None:
            edits.append(edit)
    return edits
