"""The confidence layer an interactive propagation replaced and wrote, kept beside the journal so that its
undo and redo put the confidence back with the masks.

Undo of a propagation restored every frame's masks but left the confidence the propagation wrote, so the
timeline's confidence strip, "Low confidence" and export's ``min_confidence`` read the undone values.
Journalling the maps made them undoable but big (konobi_s01e007: ~24 MB of journal per propagation; a
confidence map does not pack like a label map). They go in a side file per propagation instead,
``undo_confidence/<seq>.npz`` (each frame's map before, when it had one, and after, as `pack` deflated them),
read only by that entry's undo and redo and deleted once the entry can no longer be undone or redone
(`prune`, after every commit). A side file is an extra: when it is missing (never written, a crash
before it was, a damaged one) undo and redo restore the masks as before and leave the confidence.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from app.store.project import Project

log = logging.getLogger(__name__)

FOLDER = "undo_confidence"
LAYER = "confidence"


def side_path(project: Project, seq: int) -> Path:
    return project.root / FOLDER / f"{seq}.npz"


def pack(array: np.ndarray) -> bytes:
    """A confidence map (uint8) held in memory until the side file is written: deflated at level 1."""
    data = np.ascontiguousarray(array, np.uint8)
    return np.array(data.shape, "<u4").tobytes() + zlib.compress(data.tobytes(), 1)


def unpack(packed: bytes) -> np.ndarray:
    h, w = np.frombuffer(packed[:8], "<u4")
    return np.frombuffer(zlib.decompress(packed[8:]), np.uint8).reshape(int(h), int(w))


def save(project: Project, seq: int, before: dict[int, tuple[bytes, dict[str, Any]] | None],
         after: dict[int, bytes]) -> int:
    """Write entry ``seq``'s side file: each frame's packed map and meta before (None: it had none) and
    its packed map after. Returns its size in bytes (0 when not written: a read-only project, an error)."""
    if getattr(project.layers, "read_only", False) or not after:
        return 0
    path = side_path(project, seq)
    # The maps as packed (deflated once, when kept), stored as they are: inflating them to deflate
    # them again in the file cost a second compression of every map at the commit.
    arrays: dict[str, np.ndarray] = {}
    metas: dict[str, dict[str, Any]] = {}
    for f, packed in after.items():
        arrays[f"a{f}"] = np.frombuffer(packed, np.uint8)
        kept = before.get(f)
        if kept is not None:
            arrays[f"b{f}"] = np.frombuffer(kept[0], np.uint8)
            metas[str(f)] = kept[1]
    arrays["meta"] = np.frombuffer(json.dumps(metas).encode(), np.uint8)
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # (numpy types allow_pickle among the kwargs)
        os.replace(tmp, path)
        return path.stat().st_size
    except OSError as exc:  # a full disk: undo then leaves the confidence, as before side files
        log.warning("could not keep the confidence for undo of %s: %s", seq, exc)
        return 0


def restore(project: Project, seq: int, which: str) -> list[int]:
    """Put back the confidence entry ``seq`` replaced (``which`` "undo") or wrote ("redo"); the frames
    written. Nothing when it has no side file."""
    path = side_path(project, seq)
    if not path.exists() or getattr(project.layers, "read_only", False):
        return []
    try:
        with np.load(path) as data:
            stored = {name: data[name] for name in data.files}
        metas = json.loads(bytes(stored.pop("meta")).decode())
        maps = {name: _map(value) for name, value in stored.items()}
    except (OSError, ValueError, zlib.error) as exc:
        log.warning("the confidence kept for undo of %s could not be read: %s", seq, exc)
        return []
    frames = sorted(int(name[1:]) for name in maps if name.startswith("a"))
    for f in frames:
        if which == "redo":
            project.layers.write(LAYER, f, maps[f"a{f}"], {"stage": "propagate", "seq": seq})
        elif f"b{f}" in maps:
            project.layers.write(LAYER, f, maps[f"b{f}"], metas.get(str(f), {}))
        elif project.layers.version(LAYER, f):
            project.layers.forget(LAYER, f)
    return frames


def _map(stored: np.ndarray) -> np.ndarray:
    """A map as the side file holds it: packed (`pack`), or the map itself (files written before)."""
    return unpack(stored.tobytes()) if stored.ndim == 1 else np.asarray(stored, np.uint8)


def prune(project: Project) -> None:
    """Delete the side files of entries that can no longer be undone or redone."""
    folder = project.root / FOLDER
    if not folder.is_dir() or getattr(project.layers, "read_only", False):
        return
    keep = set(project.history.done) | set(project.history.undone)
    for path in folder.glob("*.npz"):
        stem = path.name.split(".")[0]
        if not stem.isdigit() or int(stem) not in keep:
            path.unlink(missing_ok=True)
