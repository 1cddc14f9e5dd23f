"""Import a video or an image folder into a new project, in one sequential pass.

For every frame, in decode order: the proxy (long side 640) and the thumbnail (height 54) go to
media.h5, image-folder frames are stored losslessly too (`app.ingest.frames`: a video's frames are
re-decoded from the source on demand, exactly, through the stored `VideoIndex`); the thumbnail feeds
the streaming cut detector, the full frame the hold detector (which frames repeat a drawing).
Nothing is kept per frame in memory, so memory does not grow with length.

Nothing the import did not write is ever replaced or deleted: a folder holding project files it
did not make (a damaged project, a user's own ``journal.log``) is refused, pointing at
``celstudio recover``. A failed or cancelled import removes exactly the files it wrote (and the
folder, when it made it and it is empty again); a killed one leaves its completion marker
(`app.store.importmark`), so the folder reports an unfinished import and a re-import replaces it.
Free space is checked before the import and while it runs, so a full disk stops it cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from app.errors import CelstudioError, InputError, ProjectError, is_disk_full
from app.ingest.destination import (
    SPACE_RESERVE,
    NotEnoughSpace,
    disk_nearly_full,
    free_space_check,
    import_bytes_needed,
    mb,
    prepare_destination,
    remove_import,
)
from app.ingest.frames import store_frame, store_video_index
from app.ingest.holds import HoldDetector
from app.ingest.shots import CutDetector, cuts_to_shots
from app.sources.source import FrameSource, check_source_path, content_hash, open_source
from app.store import Manifest, Project, SourceInfo
from app.store.importmark import mark_import_finished, mark_import_started

__all__ = ["ImportCancelled", "ImportDiskFull", "import_source"]

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ImportCancelled(CelstudioError):
    """The user cancelled the import; nothing was left behind."""


class ImportDiskFull(ProjectError):
    """The disk filled up during the import; nothing was kept.

    ``abandoned_hdf5`` says HDF5 files were left open in this process because closing them after
    ENOSPC crashes; a command-line process should exit without running HDF5's exit handlers.
    """

    def __init__(self, message: str, *, abandoned_hdf5: bool = False) -> None:
        super().__init__(message)
        self.abandoned_hdf5 = abandoned_hdf5


_ABANDONED: list[Project] = []


def import_source(
    src: Path,
    project_root: Path,
    *,
    name: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Project:
    """Create a project at `project_root` from a video file or an image folder.

    Parameters
    ----------
    src : Path
        A video file (`app.sources.source.VIDEO_SUFFIXES`) or a folder of png/jpg/webp images.
    project_root : Path
        The project folder to create (it may exist if empty of project files).
    name : str, optional
        The project's name; defaults to the source's file or folder name.
    progress : callable, optional
        Called as ``progress(done, total)`` after every frame.
    cancel : callable, optional
        Polled before every frame; returning True stops the import with `ImportCancelled`.

    Returns
    -------
    Project
        The open project (close it, or use it as a context manager).

    Raises
    ------
    InputError
        The source cannot be read.
    ProjectError
        A project (or files a project would use) already exists at `project_root`, it cannot be
        written, or the disk is too full for it.
    ImportCancelled
        `cancel` returned True.
    """
    src = check_source_path(Path(src))
    dest = prepare_destination(Path(project_root).expanduser())
    root = dest.root
    source = open_source(src)
    project: Project | None = None
    needed = 0

    def check_space(done: int, total: int) -> None:
        free_space_check(root, root, needed * (total - done) // max(total, 1), "the rest of the import")

    try:
        needed = import_bytes_needed(source)
        free_space_check(dest.existing_ancestor, root, needed, "the import")
        dest.make()
        mark_import_started(root, src)
        project = Project.create(root, _manifest(source, src, name))
        _fill(project, source, progress, cancel, check_space)
        mark_import_finished(root)
        return project
    except BaseException as exc:
        # HDF5 often reports a full disk as a follow-on error ("duplicate entry in cache"), the
        # ENOSPC itself only in a warning: an error while the disk is (nearly) full counts as one.
        full = not isinstance(exc, NotEnoughSpace) and (
            is_disk_full(exc) or (isinstance(exc, OSError | RuntimeError | ProjectError) and disk_nearly_full(root))
        )
        abandoned = False
        if project is not None:
            if full and not _flushes(project):
                # After ENOSPC inside HDF5 its cache is inconsistent and closing the file segfaults
                # (h5py 3.16, measured on a full tmpfs): the handles are abandoned, kept referenced so
                # no garbage collection touches them, and the files deleted underneath.
                _ABANDONED.append(project)
                abandoned = True
            else:
                with suppress(Exception):  # closing after a failed write: the first error is the one to report
                    project.close()
        remove_import(dest)
        if full:
            raise ImportDiskFull(
                f"The disk holding {root} is full; the import needs about {mb(needed + SPACE_RESERVE)} MB free "
                "there, and nothing of it was kept.",
                abandoned_hdf5=abandoned,
            ) from exc
        raise
    finally:
        source.close()


def _flushes(project: Project) -> bool:
    """True when both HDF5 files still flush (a failed flush means closing them would crash)."""
    try:
        project.layers.flush()
        project.media.flush()
    except Exception:
        return False
    return True


def _manifest(source: FrameSource, src: Path, name: str | None) -> Manifest:
    info = SourceInfo(
        kind=source.kind,
        path=str(src),
        content_hash=content_hash(src),
        codec=source.codec,
        pix_fmt=source.pix_fmt,
        gop=source.gop,
    )
    return Manifest(
        name=name or src.stem or src.name,
        source=info,
        frame_count=source.frame_count,
        width=source.width,
        height=source.height,
        fps=float(source.fps),
    )


# Free space is re-checked every this many frames, so a disk filled by something else meanwhile
# stops the import before HDF5 hits ENOSPC (which h5py survives badly).
SPACE_CHECK_EVERY = 1  # one statvfs is ~15 us, next to milliseconds of decoding per frame


def _fill(project: Project, source: FrameSource, progress: ProgressFn | None, cancel: CancelFn | None,
          check_space: Callable[[int, int], None]) -> None:
    media = project.media
    total = project.manifest.frame_count
    detector = CutDetector()
    holds = HoldDetector()
    done = 0
    for frame in source:
        if cancel is not None and cancel():
            raise ImportCancelled("The import was cancelled.")
        if done % SPACE_CHECK_EVERY == 0:
            check_space(done, total)
        if done >= total:
            raise InputError(f"{Path(project.manifest.source.path).name} has more frames than its index says.")
        detector.push(store_frame(media, done, frame, source))
        holds.push(frame)
        done += 1
        if progress is not None:
            progress(done, total)
    if cancel is not None and cancel():
        raise ImportCancelled("The import was cancelled.")
    if done != total:
        raise InputError(
            f"{Path(project.manifest.source.path).name} is damaged: only {done} of its {total} frames can be decoded."
        )
    store_video_index(media, source)
    project.manifest.source.gop = source.gop  # a video's, from its exact index now
    project.manifest.shots = cuts_to_shots(detector.finish(), total)
    project.set_held(holds.held)
    media.flush()
    project.save_manifest()
