"""A Celstudio project: a folder holding the manifest, the layer and media files and the journal.

``projects/<name>/``
    ``project.json``  schema-versioned manifest (atomic writes, previous copy kept as ``.bak``)
    ``layers.h5``     per-frame layers (a cache that the pipeline and the journal can rebuild)
    ``media.h5``      frame index, proxies, thumbnails, imported frames
    ``journal.log``   every user correction, fsync'd before it is reported done
    ``project.lock``  the writing process (see `app.store.lock`); read-only opens take no lock
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from app.errors import DiskFull, InputError, ProjectDamaged, ProjectError, ProjectReadOnly
from app.store.drawings import DrawingLayers, drawing_keys
from app.store.events import Committed, ManifestChanged
from app.store.importmark import check_import_finished
from app.store.journal import Journal, JournalEntry, MaskEdit, UndoHistory
from app.store.layers import INDEX_FILE, LayerStore
from app.store.lock import LOCK_FILE, ProjectLock
from app.store.manifest import (
    MANIFEST_NAME,
    Manifest,
    ObjectInfo,
    Shot,
    atomic_write_text,
    check_stored_shapes,
    read_manifest,
)
from app.store.media import REIMPORT_ADVICE, MediaStore
from app.store.objects import ObjectStore, apply_diff, info_from_dict

LAYERS_FILE = "layers.h5"
MEDIA_FILE = "media.h5"
JOURNAL_FILE = "journal.log"
# Every file a project may hold (for cleaning up a failed import without touching the user's own files).
PROJECT_FILES = (
    MANIFEST_NAME, f"{MANIFEST_NAME}.tmp", f"{MANIFEST_NAME}.bak", LAYERS_FILE, MEDIA_FILE, JOURNAL_FILE,
    INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm", LOCK_FILE,
)

FRAME_CACHE = 8  # decoded full-resolution frames kept per project (each stage reads the frame again)


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
        self._source: Any = None
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()  # decoded imported frames (LRU)
        self._source_lock = threading.Lock()
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
        root = Path(root)
        check_import_finished(root)  # a half-made import is not damage to recover: it is re-imported
        manifest = read_manifest(root)
        if read_only is None:
            read_only = not folder_writable(root)
        elif not read_only and not folder_writable(root):
            raise ProjectReadOnly(
                f"The project folder {root} is read-only (no write permission); open it read-only "
                "(`celstudio info` and `celstudio export` work) or copy it somewhere writable."
            )
        if read_only and recover:
            raise ProjectReadOnly(f"The project {root} is open read-only; it cannot be recovered in place.")
        lock = None if read_only else ProjectLock.acquire(root)
        try:
            project = cls._open(root, manifest, recover, read_only)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        project.lock = lock
        if lock is not None and lock.stale_pid:
            project.notices.append(f"A lock left by a Celstudio process that ended (pid {lock.stale_pid}) was cleared.")
        if project.journal.damaged:
            project.notices.append(project.journal.damage_report())
        if read_only:
            project.notices.append(f"{root.name} is open read-only.")
        _ = project.drawing_keys  # read the hold flags now, not later on whichever thread asks first (the UI's)
        return project

    @classmethod
    def _open(cls, root: Path, manifest: Manifest, recover: bool, read_only: bool) -> Project:
        journal = Journal(root / JOURNAL_FILE, read_only=read_only)
        dims = (manifest.frame_count, manifest.width, manifest.height)
        try:
            media = MediaStore(root / MEDIA_FILE, *dims, read_only=read_only)
        except ProjectDamaged as exc:
            raise ProjectDamaged(f"{exc} {REIMPORT_ADVICE}", recoverable="media (re-import the source)") from exc
        try:
            media.check_size()
        except BaseException:
            media.close()
            raise
        try:
            problem = _layer_file_problem(root / LAYERS_FILE)
            if problem:
                raise ProjectDamaged(f"The layer file {LAYERS_FILE} is {problem}.")
            try:
                layers = LayerStore(root / LAYERS_FILE, *dims, read_only=read_only)
            except ProjectDamaged:
                raise
            except ProjectError as exc:
                raise ProjectDamaged(str(exc)) from exc
            try:
                check_stored_shapes(manifest, layers.stored_shapes(), LAYERS_FILE)
            except BaseException:
                layers.close()
                raise
            project = cls(root, manifest, layers, media, journal)
        except ProjectDamaged as exc:
            return cls._recover_or_raise(root, manifest, media, journal, exc, recover and not read_only)
        except BaseException:
            media.close()
            raise
        if read_only:
            # Replay is a write: a reader sees corrections the layer file has not caught up with in memory.
            for entry in journal.since(layers.journal_seq):
                for edit in entry.edits:
                    layers.overlay[("masks", edit.frame)] = edit.after
            return project
        try:
            project._replay(journal.since(layers.journal_seq))
        except ProjectDamaged as exc:
            layers.close()
            return cls._recover_or_raise(root, manifest, media, journal, exc, recover)
        # Object edits confirmed in the journal but not yet in the manifest (a crash between the two).
        project._replay_objects(journal.since(manifest.objects_seq))
        if recover:
            project._repair_in_place()
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
        kept = f"the damaged file was kept as {moved.name}" if (root / LAYERS_FILE).exists() else f"{LAYERS_FILE} was missing"
        # Without its layer file the index's versions and records describe data that is gone: move it
        # too, so every stage reads as not computed and the pipeline redoes it.
        for name in (LAYERS_FILE, INDEX_FILE, INDEX_FILE + "-wal", INDEX_FILE + "-shm"):
            if (root / name).exists():
                shutil.move(str(root / name), root / f"{name}.damaged-{stamp}")
        layers = LayerStore(root / LAYERS_FILE, manifest.frame_count, manifest.width, manifest.height, create=True)
        project = cls(root, manifest, layers, media, journal)
        project.recovered_from = moved
        project.repairs.append(
            f"rebuilt {len(journal.entries)} corrections on {len(frames)} frames from the journal; {kept}; "
            "every stage will run again (`celstudio run`, or Run in the app)"
        )
        project._repair_journal()
        project._replay(journal.entries)
        project._replay_objects(journal.since(manifest.objects_seq))
        return project

    def _repair_journal(self) -> None:
        copy = self.journal.repair()
        if copy is not None:
            self.repairs.append(
                f"rewrote {self.journal.path.name} without its unreadable bytes ({len(self.journal.entries)} "
                f"corrections kept); the damaged journal was kept as {copy.name}"
            )

    def _repair_in_place(self) -> None:
        """`recover` on a layer file that opens: check every stored chunk against its checksum; a damaged
        correction is rewritten from the journal, any other damaged frame is marked for a re-run."""
        self._repair_journal()
        latest: dict[int, tuple[JournalEntry, MaskEdit]] = {}
        for entry in self.journal:
            for edit in entry.edits:
                latest[edit.frame] = (entry, edit)
        rebuilt, rerun = [], []
        for layer, frame in self.layers.damaged_frames():
            if layer == "masks" and frame in latest and latest[frame][1].source != "pipeline":
                entry, edit = latest[frame]
                meta = {"source": edit.source, "seq": entry.seq, "kind": entry.kind}
                self.layers.write("masks", frame, edit.after, meta)
                rebuilt.append(frame)
            else:
                self.layers.forget(layer, frame)
                rerun.append(f"{layer} {frame}")
        if rebuilt:
            self.repairs.append(f"rebuilt the damaged masks of frames {_frames(rebuilt)} from the journal")
        if rerun:
            self.repairs.append(f"marked {len(rerun)} damaged frames to run again ({', '.join(rerun[:8])})")

    def close(self) -> None:
        with self._source_lock:
            if self._source is not None:
                self._source.close()
                self._source = None
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
        from app.sources.source import VideoIndex, open_source

        path = Path(self.manifest.source.path)
        if not path.is_file():
            raise InputError(f"The source video {path} is missing; move it back or re-link the project.")
        try:
            arrays = self.media.read_arrays("video_index")
            index = VideoIndex.from_arrays(arrays) if arrays else None
        except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError, ZeroDivisionError) as exc:
            raise ProjectDamaged(
                f"The frame index of the source video in {MEDIA_FILE} is damaged ({type(exc).__name__}: {exc}). "
                f"{REIMPORT_ADVICE}",
                recoverable="media (re-import the source)",
            ) from exc
        # A small decoded-frame cache: 8 frames of 1080p are 50 MB; proxies serve scrubbing.
        return open_source(path, index=index, cache_frames=8)

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
                self._replay([entry])
            except ProjectError as exc:
                # Confirmed in the journal, not yet in the layers: the next open replays it.
                kind_of = DiskFull if isinstance(exc, DiskFull) else ProjectError
                raise kind_of(
                    f"The correction was saved in the journal but the layers could not be updated ({exc}); "
                    "it is applied when the project is next opened."
                ) from exc
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


def folder_writable(root: Path) -> bool:
    """True when files can be made in ``root``: permission bits, then a probe file, which also catches
    a read-only mount (and root, whom permission bits never stop)."""
    if not os.access(root, os.W_OK):
        return False
    probe = root / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def _layer_file_problem(path: Path) -> str:
    """Why ``layers.h5`` cannot be the project's layer file ("" when it may be)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return "empty (0 bytes)" if size == 0 else ""


def _frames(frames: list[int]) -> str:
    text = ", ".join(map(str, frames[:10]))
    return text + (f" and {len(frames) - 10} more" if len(frames) > 10 else "")


def _object_of(entry: JournalEntry) -> ObjectInfo:
    return info_from_dict(dict(entry.payload["object"]))
