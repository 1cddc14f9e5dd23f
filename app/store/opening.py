"""Opening a project folder: the checks, the replay of corrections the layer file missed, and the
recovery of a damaged layer file or journal (`Project.open` is the entry point)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ProjectDamaged, ProjectError, ProjectReadOnly
from app.store.edits import JournalEntry, MaskEdit
from app.store.importmark import check_import_finished
from app.store.journal import JOURNAL_FILE, Journal
from app.store.layers import INDEX_FILE, LAYERS_FILE, LayerStore
from app.store.lock import ProjectLock
from app.store.manifest import Manifest, check_stored_shapes, read_manifest
from app.store.media import MEDIA_FILE, REIMPORT_ADVICE, MediaStore
from app.store.retire import cleared_notice, retire_replaced

if TYPE_CHECKING:
    from app.store.project import Project


def open_project(cls: type[Project], root: Path, *, recover: bool, read_only: bool | None) -> Project:
    """`Project.open`: the lock, the stores, the replay, the notices (see its docstring)."""
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
        project = _open_stores(cls, root, manifest, recover, read_only)
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
    else:
        _retire_replaced(project)
    _ = project.drawing_keys  # read the hold flags now, not later on whichever thread asks first (the UI's)
    return project


def _retire_replaced(project: Project) -> None:
    """The check each stage-1 stage ends with (`app.store.retire`), again at open: a crash between a
    re-run's writes and its ``retire`` entry left edits on the stacks whose frames it replaced."""
    entry = retire_replaced(project)
    if entry is not None:
        project.notices.append(cleared_notice(project, entry))


def _open_stores(cls: type[Project], root: Path, manifest: Manifest, recover: bool, read_only: bool) -> Project:
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
        return _recover_or_raise(cls, root, manifest, media, journal, exc, recover and not read_only)
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
        project.replay(journal.since(layers.journal_seq))
    except ProjectDamaged as exc:
        layers.close()
        return _recover_or_raise(cls, root, manifest, media, journal, exc, recover)
    # Object edits confirmed in the journal but not yet in the manifest (a crash between the two).
    project.replay_objects(journal.since(manifest.objects_seq))
    if recover:
        _repair_in_place(project)
    return project


def _recover_or_raise(
    cls: type[Project], root: Path, manifest: Manifest, media: MediaStore, journal: Journal, exc: ProjectDamaged,
    recover: bool,
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
    _repair_journal(project)
    project.replay(journal.entries)
    project.replay_objects(journal.since(manifest.objects_seq))
    return project


def _repair_journal(project: Project) -> None:
    copy = project.journal.repair()
    if copy is not None:
        project.repairs.append(
            f"rewrote {project.journal.path.name} without its unreadable bytes ({len(project.journal.entries)} "
            f"corrections kept); the damaged journal was kept as {copy.name}"
        )


def _repair_in_place(project: Project) -> None:
    """`recover` on a layer file that opens: check every stored chunk against its checksum; a damaged
    correction is rewritten from the journal, any other damaged frame is marked for a re-run."""
    _repair_journal(project)
    latest: dict[int, tuple[JournalEntry, MaskEdit]] = {}
    for entry in project.journal:
        for edit in entry.edits:
            latest[edit.frame] = (entry, edit)
    rebuilt, rerun = [], []
    for layer, frame in project.layers.damaged_frames():
        if layer == "masks" and frame in latest and latest[frame][1].source != "pipeline":
            entry, edit = latest[frame]
            meta = {"source": edit.source, "seq": entry.seq, "kind": entry.kind}
            project.layers.write("masks", frame, edit.after, meta)
            rebuilt.append(frame)
        else:
            project.layers.forget(layer, frame)
            rerun.append(f"{layer} {frame}")
    if rebuilt:
        project.repairs.append(f"rebuilt the damaged masks of frames {_frames(rebuilt)} from the journal")
    if rerun:
        project.repairs.append(f"marked {len(rerun)} damaged frames to run again ({', '.join(rerun[:8])})")


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
