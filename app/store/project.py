"""A Celstudio project: a folder holding the manifest, the layer and media files and the journal.

``projects/<name>/``
    ``project.json``  schema-versioned manifest (atomic writes, previous copy kept as ``.bak``)
    ``layers.h5``     per-frame layers (a cache that the pipeline and the journal can rebuild)
    ``media.h5``      frame index, proxies, thumbnails, imported frames
    ``journal.log``   every user correction, fsync'd before it is reported done
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from app.errors import InputError, ProjectDamaged, ProjectError
from app.store.events import Committed, ManifestChanged
from app.store.journal import Journal, JournalEntry, MaskEdit, UndoHistory
from app.store.layers import INDEX_FILE, LayerStore
from app.store.manifest import MANIFEST_NAME, Manifest, ObjectInfo, Shot, atomic_write_text, read_manifest
from app.store.media import MediaStore
from app.store.objects import ObjectStore, apply_diff, info_from_dict

LAYERS_FILE = "layers.h5"
MEDIA_FILE = "media.h5"
JOURNAL_FILE = "journal.log"
# Every file a project may hold (for cleaning up a failed import without touching the user's own files).
PROJECT_FILES = (
    MANIFEST_NAME, f"{MANIFEST_NAME}.tmp", f"{MANIFEST_NAME}.bak", LAYERS_FILE, MEDIA_FILE, JOURNAL_FILE,
    INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm",
)

FRAME_CACHE = 8  # decoded full-resolution frames kept per project (each stage reads the frame again)


class Project:
    """An open project. Use `Project.create` or `Project.open`; close it (or use ``with``)."""

    def __init__(self, root: Path, manifest: Manifest, layers: LayerStore, media: MediaStore, journal: Journal) -> None:
        self.root = root
        self.manifest = manifest
        self.layers = layers
        self.media = media
        self.journal = journal
        self.events = layers.events
        self.objects = ObjectStore(self)
        self.history = UndoHistory()
        for entry in journal:
            self.history.observe(entry)
        self._source: Any = None
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()  # decoded imported frames (LRU)
        self._source_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self.recovered_from: Path | None = None
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
        layers = LayerStore(root / LAYERS_FILE, *dims, create=True)
        media = MediaStore(root / MEDIA_FILE, *dims, create=True)
        journal = Journal(root / JOURNAL_FILE)
        project = cls(root, manifest, layers, media, journal)
        project.save_manifest()
        return project

    @classmethod
    def open(cls, root: Path, *, recover: bool = False) -> Project:
        """Open a project and replay confirmed corrections the layer file may have missed.

        A damaged layer file raises `ProjectDamaged` saying what can be rebuilt; ``recover=True`` moves
        it aside and rebuilds every confirmed correction from the journal.
        """
        root = Path(root)
        manifest = read_manifest(root)
        journal = Journal(root / JOURNAL_FILE)
        dims = (manifest.frame_count, manifest.width, manifest.height)
        try:
            media = MediaStore(root / MEDIA_FILE, *dims)
        except ProjectDamaged as exc:
            raise ProjectDamaged(
                f"{exc} Re-import the source to rebuild proxies and thumbnails.",
                recoverable="media (re-import the source)",
            ) from exc
        try:
            layers = LayerStore(root / LAYERS_FILE, *dims)
            project = cls(root, manifest, layers, media, journal)
        except ProjectDamaged as exc:
            return cls._recover_or_raise(root, manifest, media, journal, exc, recover)
        try:
            project._replay(journal.since(layers.journal_seq))
        except ProjectDamaged as exc:
            layers.close()
            return cls._recover_or_raise(root, manifest, media, journal, exc, recover)
        # Object edits confirmed in the journal but not yet in the manifest (a crash between the two).
        project._replay_objects(journal.since(manifest.objects_seq))
        return project

    @classmethod
    def _recover_or_raise(
        cls, root: Path, manifest: Manifest, media: MediaStore, journal: Journal, exc: ProjectDamaged, recover: bool
    ) -> Project:
        frames = {e.frame for entry in journal for e in entry.edits}
        what = f"{len(journal.entries)} confirmed corrections on {len(frames)} frames"
        if not recover:
            media.close()
            raise ProjectDamaged(
                f"{exc} {what} can be rebuilt from the journal (`celstudio recover`, or Recover in the app); "
                "pipeline results will be recomputed.",
                recoverable=what,
            ) from exc
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = root / f"{LAYERS_FILE}.damaged-{stamp}"
        for name in (LAYERS_FILE, INDEX_FILE, INDEX_FILE + "-wal", INDEX_FILE + "-shm"):
            if (root / name).exists():
                shutil.move(str(root / name), root / f"{name}.damaged-{stamp}")
        layers = LayerStore(root / LAYERS_FILE, manifest.frame_count, manifest.width, manifest.height, create=True)
        project = cls(root, manifest, layers, media, journal)
        project.recovered_from = moved
        project._replay(journal.entries)
        project._replay_objects(journal.since(manifest.objects_seq))
        return project

    def close(self) -> None:
        with self._source_lock:
            if self._source is not None:
                self._source.close()
                self._source = None
        self.layers.close()
        self.media.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- manifest -----------------------------------------------------------------------------------
    def save_manifest(self) -> None:
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

    def set_shots(self, shots: list[Shot]) -> None:
        self.manifest.shots = list(shots)
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
        return next((o for o in self.manifest.objects if o.id == object_id), None)

    # -- frames -------------------------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """The full-resolution RGB frame ``index``."""
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} is outside 0..{self.frame_count - 1}")
        if self.manifest.source.kind != "video":
            with self._source_lock:
                cached = self._frames.get(index)
                if cached is not None:
                    self._frames.move_to_end(index)
                    return cached
            frame = self.media.read_frame(index)
            with self._source_lock:
                self._frames[index] = frame
                while len(self._frames) > FRAME_CACHE:
                    self._frames.popitem(last=False)
            return frame
        with self._source_lock:
            if self._source is None:
                self._source = self._open_video()
            return np.asarray(self._source.get(index))

    def _open_video(self) -> Any:
        from app.ingest.source import VideoIndex, open_source

        path = Path(self.manifest.source.path)
        if not path.is_file():
            raise InputError(f"The source video {path} is missing; move it back or re-link the project.")
        arrays = self.media.read_arrays("video_index")
        # A small decoded-frame cache: 8 frames of 1080p are 50 MB; proxies serve scrubbing.
        return open_source(path, index=VideoIndex.from_arrays(arrays) if arrays else None, cache_frames=8)

    def proxy(self, index: int) -> np.ndarray:
        return self.media.read_proxy(index)

    def thumbnail(self, index: int) -> np.ndarray:
        return self.media.read_thumbnail(index)

    # -- corrections --------------------------------------------------------------------------------
    def commit(self, kind: str, edits: list[MaskEdit], payload: dict[str, Any] | None = None) -> JournalEntry:
        """Journal an edit (fsync'd: confirmed on return), then apply it to the layers."""
        with self._commit_lock:
            entry = self.journal.append(kind, edits, payload)
            self.history.observe(entry)
            self._replay([entry])
            objects_changed = self._replay_objects([entry])
        self.events.emit(Committed(entry.seq, entry.kind, entry.frames))
        if objects_changed:
            self.events.emit(ManifestChanged("objects"))
        return entry

    def _replay_objects(self, entries: list[JournalEntry]) -> bool:
        """Apply the object diffs of ``entries`` (and of the edits they undo or redo) to the manifest."""
        changed = False
        for entry in entries:
            target = entry.payload.get("target")
            if entry.kind in ("undo", "redo") and isinstance(target, int):
                diff = self._entry(target).payload.get("diff")
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

    def _replay(self, entries: list[JournalEntry]) -> None:
        if not entries:
            return
        for entry in entries:
            for edit in entry.edits:
                meta = {"source": edit.source, "seq": entry.seq, "kind": entry.kind}
                self.layers.write("masks", edit.frame, edit.after, meta)
        # Data first, then the marker: a kill between the two only causes a harmless second replay.
        self.layers.flush()
        self.layers.journal_seq = entries[-1].seq
        self.layers.flush()

    def undo(self) -> JournalEntry | None:
        """Revert the latest edit still in effect (itself a journalled edit); None if nothing to undo."""
        if not self.history.done:
            return None
        target = self._entry(self.history.done[-1])
        entry = self.commit("undo", [e.inverse() for e in reversed(target.edits)], {"target": target.seq})
        if target.kind == "delete_object" and "diff" not in target.payload:  # journals from before object diffs
            self._set_object_listed(_object_of(target), listed=True)
        return entry

    def redo(self) -> JournalEntry | None:
        if not self.history.undone:
            return None
        target = self._entry(self.history.undone[-1])
        entry = self.commit("redo", list(target.edits), {"target": target.seq})
        if target.kind == "delete_object" and "diff" not in target.payload:
            self._set_object_listed(_object_of(target), listed=False)
        return entry

    def _entry(self, seq: int) -> JournalEntry:
        return next(e for e in self.journal.entries if e.seq == seq)

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
