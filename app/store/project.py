"""A Celstudio project: a folder holding the manifest, the layer and media files and the journal.

``projects/<name>/``
    ``project.json``  schema-versioned manifest (atomic writes, previous copy kept as ``.bak``)
    ``layers.h5``     per-frame layer arrays (a cache that the pipeline and the journal can rebuild)
    ``index.db``      their per-frame versions and meta, and per-frame records (SQLite)
    ``media.h5``      frame index, proxies, thumbnails, imported frames
    ``journal.log``   every user correction, fsync'd before it is reported done
    ``project.lock``  the writing process (see `app.store.lock`); read-only opens take no lock

Opening and recovery are in `app.store.opening`, the source frames in `app.store.source_frames`,
object edits in `app.store.objects`. What stays here (a little over 300 lines) is the `Project` every
layer holds: its lifecycle, manifest, shots and drawings, and the journalled commit/undo/redo path,
which must stay one method each so every correction goes through the same lock and journal.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from app.errors import DiskFull, ProjectError, ProjectReadOnly
from app.store import app_merges, undo_confidence
from app.store.drawings import DrawingLayers, drawing_keys
from app.store.edits import JournalEntry, MaskEdit
from app.store.events import Committed, ManifestChanged
from app.store.journal import JOURNAL_FILE, Journal, UndoHistory
from app.store.layers import INDEX_FILE, LAYERS, LAYERS_FILE, LayerStore
from app.store.lock import LOCK_FILE, ProjectLock
from app.store.manifest import MANIFEST_NAME, Manifest, ObjectInfo, Shot, atomic_write_text
from app.store.media import MEDIA_FILE, MediaStore
from app.store.objects import ObjectStore, apply_diff, info_from_dict
from app.store.opening import open_project
from app.store.source_frames import SourceFrames

# Every file a project may hold (for cleaning up a failed import without touching the user's own files).
# The propagate stage's per-frame record (`app.pipeline.graph.record_name`): ``kept`` marks one it wrote
# for a frame the user owned, where it wrote no map.
PROPAGATE_RECORD = f"stage/{LAYERS['masks'].stage}"

PROJECT_FILES = (
    MANIFEST_NAME, f"{MANIFEST_NAME}.tmp", f"{MANIFEST_NAME}.bak", LAYERS_FILE, MEDIA_FILE, JOURNAL_FILE,
    INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm", LOCK_FILE,
)


class Project:
    """An open project. Use `Project.create` or `Project.open`; close it (or use ``with``)."""

    def __init__(self, root: Path, manifest: Manifest, layers: LayerStore, media: MediaStore, journal: Journal) -> None:
        self.root = root
        self.manifest = manifest
        # Every frame of a held drawing reads and writes its drawing (app.store.drawings).
        self.layers = DrawingLayers(layers, lambda: self.drawing_keys)
        self.media = media
        self.journal = journal
        self.events = layers.events
        self.objects = ObjectStore(self)
        self.history = UndoHistory()
        self._drawing_keys: np.ndarray | None = None
        for entry in journal:
            self.history.observe(entry)
        self.frames = SourceFrames(manifest, media)
        self._commit_lock = threading.Lock()
        self.recovered_from: Path | None = None
        self.read_only = layers.read_only
        self.lock: ProjectLock | None = None
        self.notices: list[str] = []  # what the user should hear about this open (damage skipped, a stale lock)
        self.repairs: list[str] = []  # what `recover` rebuilt
        self.runner: Any = None  # the started pipeline runner that owns this project's writes, if any

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, manifest: Manifest) -> Project:
        root = Path(root)
        if (root / MANIFEST_NAME).exists():
            raise ProjectError(f"A project already exists at {root}.")
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ProjectError(f"Cannot create a project in {root} ({exc.strerror or exc}).") from exc
        dims = (manifest.frame_count, manifest.width, manifest.height)
        lock = ProjectLock.acquire(root)
        try:
            layers = LayerStore(root / LAYERS_FILE, *dims, create=True)
            media = MediaStore(root / MEDIA_FILE, *dims, create=True)
            journal = Journal(root / JOURNAL_FILE)
        except BaseException:
            lock.release()
            raise
        project = cls(root, manifest, layers, media, journal)
        project.lock = lock
        project.save_manifest()
        return project

    @classmethod
    def open(cls, root: Path, *, recover: bool = False, read_only: bool | None = False) -> Project:
        """Open a project and replay confirmed corrections the layer file may have missed.

        A damaged layer file raises `ProjectDamaged` saying what can be rebuilt; ``recover=True`` moves
        it aside and rebuilds every confirmed correction from the journal (and a damaged journal is
        rewritten without its unreadable records, after a copy is kept).

        ``read_only=True`` writes nothing (not even the lock), so it works while another process has
        the project open; ``None`` opens read-only only when the folder cannot be written. A writable
        open of a folder that cannot be written raises `ProjectReadOnly`; a project open in another
        process raises `ProjectLocked` naming it.
        """
        return open_project(cls, Path(root), recover=recover, read_only=read_only)

    def close(self) -> None:
        self.frames.close()
        try:
            self.layers.close()
            self.media.close()
        finally:
            if self.lock is not None:
                self.lock.release()
                self.lock = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- manifest -----------------------------------------------------------------------------------
    def save_manifest(self) -> None:
        if self.read_only:
            raise ProjectReadOnly(f"{self.root.name} is open read-only; its settings cannot be saved.")
        path = self.root / MANIFEST_NAME
        if path.exists():
            shutil.copyfile(path, path.with_name(MANIFEST_NAME + ".bak"))
        atomic_write_text(path, self.manifest.to_json())

    @property
    def frame_count(self) -> int:
        return self.manifest.frame_count

    @property
    def width(self) -> int:
        return self.manifest.width

    @property
    def height(self) -> int:
        return self.manifest.height

    @property
    def shots(self) -> list[Shot]:
        return self.manifest.shots or [Shot(0, self.frame_count)]

    def shot_of(self, frame: int) -> Shot:
        for shot in self.shots:
            if frame in shot:
                return shot
        raise IndexError(f"frame {frame} is outside the project (0..{self.frame_count - 1})")

    HELD_ARRAY = "holds/held"

    def set_held(self, held: list[bool] | np.ndarray) -> None:
        """Record which frames repeat the drawing before them (found at import)."""
        flags = np.asarray(held, dtype=np.uint8)
        if flags.shape != (self.frame_count,):
            raise ValueError(f"held flags for {flags.shape[0]} frames, the project has {self.frame_count}")
        self.media.write_array(self.HELD_ARRAY, flags)
        self._drawing_keys = None

    @property
    def drawing_keys(self) -> np.ndarray:
        """For every frame, the first frame of its drawing; every frame is its own drawing in projects
        imported before holds were detected. Holds never cross a shot boundary, so shot edits apply."""
        if self._drawing_keys is None:
            held = self.media.read_array(self.HELD_ARRAY)
            if held is None or held.shape != (self.frame_count,):
                held = np.zeros(self.frame_count, np.uint8)
            self._drawing_keys = drawing_keys(held.astype(bool), self.shots)
        return self._drawing_keys

    def drawing_of(self, frame: int) -> int:
        """The first frame of the drawing that ``frame`` shows."""
        return int(self.drawing_keys[frame])

    def hold_of(self, frame: int) -> range:
        """Every frame that shows the same drawing as ``frame`` (a range, at least the frame itself)."""
        keys = self.drawing_keys
        key = keys[frame]
        end = frame + 1
        while end < len(keys) and keys[end] == key:
            end += 1
        return range(int(key), end)

    @property
    def drawing_count(self) -> int:
        keys = self.drawing_keys
        return int(np.count_nonzero(keys == np.arange(len(keys))))

    def set_shots(self, shots: list[Shot]) -> None:
        self.manifest.shots = list(shots)
        self._drawing_keys = None
        self.save_manifest()
        self.events.emit(ManifestChanged("shots"))

    def add_object(self, name: str, kind: str = "character", color: tuple[int, int, int] | None = None) -> ObjectInfo:
        """A new object named by the user (a journalled, undoable edit; see `ObjectStore.add`)."""
        return self.objects.add(name, kind, color)

    def delete_object(self, object_id: int, *, shot: int | None = None) -> JournalEntry | None:
        """Remove an object everywhere (or in the shot of frame ``shot``): its pixels leave the masks
        in one journalled, undoable edit. None if there is no such object."""
        if self.object(object_id) is None:
            return None
        return self.objects.delete(object_id, shot=shot)

    def _set_object_listed(self, info: ObjectInfo, *, listed: bool) -> None:
        objects = [o for o in self.manifest.objects if o.id != info.id]
        self.manifest.objects = sorted([*objects, info], key=lambda o: o.id) if listed else objects
        self.save_manifest()
        self.events.emit(ManifestChanged("objects"))

    def object(self, object_id: int) -> ObjectInfo | None:
        return self.objects.get(object_id)

    # -- frames -------------------------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """The full-resolution RGB frame ``index``: read-only, shared with every other reader (copy it
        to draw on it)."""
        return self.frames.get(index)

    def proxy(self, index: int) -> np.ndarray:
        return self.media.read_proxy(index)

    def thumbnail(self, index: int) -> np.ndarray:
        return self.media.read_thumbnail(index)

    # -- corrections --------------------------------------------------------------------------------
    def commit(self, kind: str, edits: list[MaskEdit], payload: dict[str, Any] | None = None) -> JournalEntry:
        """Journal an edit (fsync'd: confirmed on return), then apply it to the layers."""
        with self._commit_lock:
            entry = self.journal.append(kind, edits, payload)  # raises DiskFull before anything is applied
            self.history.observe(entry)
            try:
                self.replay([entry])
            except ProjectError as exc:
                # Confirmed in the journal, not yet in the layers: the next open replays it.
                kind_of = DiskFull if isinstance(exc, DiskFull) else ProjectError
                raise kind_of(
                    f"The correction was saved in the journal but the layers could not be updated ({exc}); "
                    "it is applied when the project is next opened."
                ) from exc
            objects_changed = self.replay_objects([entry])
        undo_confidence.prune(self)  # the side files of edits that left the undo and redo stacks
        self.events.emit(Committed(entry.seq, entry.kind, entry.frames))
        if objects_changed:
            self.events.emit(ManifestChanged("objects"))
        return entry

    def replay_objects(self, entries: list[JournalEntry]) -> bool:
        """Apply the object diffs of ``entries`` (and of the edits they undo or redo) to the manifest."""
        changed = False
        for entry in entries:
            target = entry.payload.get("target")
            if entry.kind in ("undo", "redo") and isinstance(target, int):
                # What the undo restored, mapped through the app's merges since its target (app_merges).
                diff = entry.payload.get("mapped_diff", self._entry(target).payload.get("diff"))
                reverse = entry.kind == "undo"
            else:
                diff, reverse = entry.payload.get("diff"), False
            if isinstance(diff, dict):
                apply_diff(self, diff, reverse=reverse)
                changed = True
        if changed:
            self.manifest.objects_seq = entries[-1].seq
            self.save_manifest()
        return changed

    def replay(self, entries: list[JournalEntry]) -> None:
        """Write the label maps of journalled ``entries`` into the masks layer (whole maps, so a second
        replay changes nothing), then record the last one as applied."""
        if not entries:
            return
        for entry in entries:
            for edit in entry.edits:
                meta = {"source": edit.source, "seq": entry.seq, "kind": entry.kind}
                self.layers.write("masks", edit.frame, edit.after, meta)
                if entry.kind in ("undo", "redo") and edit.source == "pipeline":
                    self._unvouch(edit.frame, entry.seq)
        # Data first, then the marker: a kill between the two only causes a harmless second replay.
        self.layers.flush()
        self.layers.journal_seq = entries[-1].seq
        self.layers.flush()

    def _unvouch(self, frame: int, seq: int) -> None:
        """An undo or redo gave ``frame`` back to the pipeline with a map the journal kept. When the
        propagate stage's record there was written while the frame was the user's (``kept``: it wrote
        no map, so a re-run since then did not refresh this one), the record vouches for nothing the
        frame now holds: it is marked stale, so the app counts the frame stale and the next run (or
        `export`) computes it again. Without ``kept`` the record is the one of the map restored."""
        record = self.layers.read_record(PROPAGATE_RECORD, frame)
        if record is not None and record.get("kept"):
            inputs = dict(record.get("inputs") or {})
            inputs["restored_by"] = seq  # never a current input: the record reads stale
            self.layers.write_record(PROPAGATE_RECORD, frame, {**record, "inputs": inputs, "kept": False})

    def undo(self) -> JournalEntry | None:
        """Revert the latest edit still in effect (itself a journalled edit); None if nothing to undo.

        What it restores is mapped through the app's own merges journalled since (`app.store.app_merges`):
        an object registration absorbed after the edit does not come back."""
        if not self.history.done:
            return None
        target = self._entry(self.history.done[-1])
        return self._revisit("undo", target, [e.inverse() for e in reversed(target.edits)])

    def redo(self) -> JournalEntry | None:
        if not self.history.undone:
            return None
        target = self._entry(self.history.undone[-1])
        return self._revisit("redo", target, list(target.edits))

    def _revisit(self, kind: str, target: JournalEntry, edits: list[MaskEdit]) -> JournalEntry:
        table = app_merges.table_since(self.journal.entries, target.seq)
        payload: dict[str, Any] = {"target": target.seq}
        diff = target.payload.get("diff")
        if table is not None and isinstance(diff, dict):
            payload["mapped_diff"] = app_merges.map_diff(table, diff)
        entry = self.commit(kind, [app_merges.map_edit(table, e) for e in edits], payload)
        undo_confidence.restore(self, target.seq, kind)  # a propagation's confidence, kept beside the journal
        if target.kind == "delete_object" and "diff" not in target.payload:  # journals from before object diffs
            info = _object_of(target)
            if table is None or int(table[info.id]) == info.id:  # not absorbed by the app since
                self._set_object_listed(info, listed=kind == "undo")
        return entry

    def _entry(self, seq: int) -> JournalEntry:
        found = next((e for e in self.journal.entries if e.seq == seq), None)
        if found is None:
            raise ProjectError(f"Correction {seq} is in a damaged part of the journal and cannot be undone or redone.")
        return found

    def corrected_frames(self) -> dict[int, str]:
        """Frames whose masks came from the user, with the source of the edit now in effect."""
        state: dict[int, str] = {}
        for entry in self.journal:
            for edit in entry.edits:
                state[edit.frame] = edit.source
        return {f: s for f, s in state.items() if s != "pipeline"}

    def masks_or_empty(self, frame: int) -> np.ndarray:
        labels = self.layers.read("masks", frame)
        return labels if labels is not None else np.zeros((self.height, self.width), np.uint8)


def _object_of(entry: JournalEntry) -> ObjectInfo:
    return info_from_dict(dict(entry.payload["object"]))
