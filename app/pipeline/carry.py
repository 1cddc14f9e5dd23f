"""Stage results an edit of the masks leaves standing: carried to the new masks instead of re-run.

A result is fresh while the versions it was made from are current (`app.pipeline.graph`), so any
rewrite of a frame's masks made matte, effects, inpaint and annotate stale there: a merge of two
characters (a relabel: the characters' union, the text and the holes the plate paints are what they
were) re-ran all four on every frame of both objects - 656 steps on konobi_s01e007. What each stage
reads of a label map is `MASK_VIEWS`; where it is the same before and after the edit, the stage's
record is moved to the new masks version (``carried`` says from which), and only the rest re-runs.

Exact, never a guess: a record is carried only when it was fresh just before the edit (every input as
now but the masks, and the masks at the version the edit replaced), the edit's maps are the ones the
store held (their checksums match the versions' before and after), and every part the stage reads of
each map is equal. Anything else re-runs as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from app.pipeline.graph import DOWNSTREAM_OF_MASKS, ROLE_OF_STAGE, current_inputs, record_name
from app.pipeline.stages.common import MASK_VIEWS
from app.store import JournalEntry, Project
from app.store.edits import decode_labels
from app.store.layers import checksum


@dataclass(frozen=True)
class MasksBefore:
    """What the masks were just before an edit: each drawing's (version, checksum) and the kinds."""

    versions: dict[int, tuple[int, int | None]]
    kinds: dict[int, str]


def masks_before(project: Project) -> MasksBefore:
    """Taken before an edit runs (one query, no map read), for `carry_unchanged` after it."""
    return MasksBefore(project.layers.raw.version_crcs("masks"), project.objects.kinds())


def kind_changed(project: Project, before: MasksBefore) -> list[int]:
    """The drawings (first frames) that show an object whose kind is not what it was ``before`` (a kind
    change, its undo or redo): there the stages that read kinds (`graph.KIND_STAGES`) may be stale."""
    now = project.objects.kinds()
    changed = {oid for oid, kind in now.items() if before.kinds.get(oid, kind) != kind}
    if not changed:
        return []
    keys = project.drawing_keys
    return sorted({int(keys[f]) for f, ids in project.layers.present("masks").items() if changed & set(ids)})


def carry_unchanged(
    project: Project, before: MasksBefore, entries: Iterable[JournalEntry], backend_of: Callable[[str], str],
    stages: tuple[str, ...] = DOWNSTREAM_OF_MASKS,
) -> dict[str, list[int]]:
    """Carry the records of ``stages`` the ``entries`` (journalled since ``before``) leave standing to the
    new masks; returns stage -> the drawings (first frames) carried. ``backend_of`` names each role's backend."""
    layers = project.layers
    first: dict[int, bytes] = {}  # drawing -> its map before the entries, and after them (packed)
    last: dict[int, bytes] = {}
    for entry in entries:
        for edit in entry.edits:
            key = layers.key(edit.frame)
            first.setdefault(key, edit.before_png)
            last[key] = edit.after_png
    if not first:
        return {}
    now = layers.raw.version_crcs("masks")
    kinds = project.objects.kinds()
    maps: dict[tuple[int, bool], np.ndarray] = {}
    parts: dict[tuple[int, bool, int], tuple[np.ndarray, ...]] = {}

    def exact(key: int) -> bool:
        """The entries' maps are what the store held before them and holds now."""
        old, new = before.versions.get(key), now.get(key)
        if old is None or new is None or old[1] is None or new[1] is None:
            return False
        maps[(key, False)], maps[(key, True)] = decode_labels(first[key]), decode_labels(last[key])
        return checksum(maps[(key, False)]) == old[1] and checksum(maps[(key, True)]) == new[1]

    def same(key: int, stage: str) -> bool:
        """Every part ``stage`` reads of the drawing's map is equal before and after (each part is
        worked out once per map, the cheap ones first: the first that differs ends it)."""
        for part in MASK_VIEWS[stage]:
            got = []
            for after in (False, True):
                if (key, after, id(part)) not in parts:
                    parts[(key, after, id(part))] = part(project, maps[(key, after)], kinds if after else before.kinds)
                got.append(parts[(key, after, id(part))])
            a, b = got
            if len(a) != len(b) or not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
                return False
        return True

    checked = {key: exact(key) for key in sorted(first)}
    carried: dict[str, list[int]] = {}
    for stage in stages:
        if stage not in MASK_VIEWS:
            continue
        backend = backend_of(ROLE_OF_STAGE[stage])
        for key in sorted(first):
            if not checked[key]:
                continue
            record = layers.read_record(record_name(stage), key)
            if record is None or record.get("status") != "ok" or not isinstance(record.get("inputs"), dict):
                continue
            inputs = current_inputs(project, stage, key, backend)
            was = {**inputs, "masks": before.versions[key][0]}
            if inputs.get("masks") != now[key][0] or record["inputs"] != was or not same(key, stage):
                continue
            layers.write_record(record_name(stage), key, {**record, "inputs": inputs, "carried": was["masks"]})
            carried.setdefault(stage, []).append(key)
    return carried
