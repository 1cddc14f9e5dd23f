"""Import a video or an image folder into a new project, in one sequential pass.

For every frame, in decode order: the proxy (long side 640) and the thumbnail (height 54) go to
media.h5, image-folder frames are stored losslessly too (a video's frames are re-decoded from the
source on demand, exactly, through the stored `VideoIndex`), and the frame's thumbnail feeds the
streaming cut detector; the full frame feeds the hold detector (which frames repeat a drawing). Nothing is kept per frame in memory, so memory does not grow with length.

A failed or cancelled import removes what it made: the whole project folder when this call
created it, otherwise only the project files it wrote into the existing (empty) folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2

from app.errors import CelstudioError, InputError, ProjectError
from app.ingest.holds import HoldDetector
from app.ingest.shots import CutDetector, cuts_to_shots
from app.ingest.source import FrameSource, VideoFrameSource, VideoIndex, content_hash, open_source
from app.store import Manifest, Project, SourceInfo
from app.store.manifest import MANIFEST_NAME
from app.store.project import PROJECT_FILES

__all__ = ["ImportCancelled", "import_source"]

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ImportCancelled(CelstudioError):
    """The user cancelled the import; nothing was left behind."""


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
        The video (mp4, mkv, webm, mov, avi) or folder of png/jpg/webp images.
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
        A project already exists at `project_root` or it cannot be written.
    ImportCancelled
        `cancel` returned True.
    """
    src = Path(src).expanduser().resolve()
    root = Path(project_root).expanduser()
    if (root / MANIFEST_NAME).exists():
        raise ProjectError(f"A project already exists at {root}.")
    created = not root.exists()
    source = open_source(src)
    project: Project | None = None
    try:
        project = Project.create(root, _manifest(source, src, name))
        _fill(project, source, progress, cancel)
        return project
    except BaseException:
        if project is not None:
            project.close()
        _remove(root, created)
        raise
    finally:
        source.close()


def _manifest(source: FrameSource, src: Path, name: str | None) -> Manifest:
    is_video = isinstance(source, VideoFrameSource)
    info = SourceInfo(
        kind="video" if is_video else "images",
        path=str(src),
        content_hash=content_hash(src),
        codec=getattr(source, "codec", ""),
        pix_fmt=getattr(source, "pix_fmt", ""),
        gop=int(getattr(source, "gop", 1)),
    )
    return Manifest(
        name=name or src.stem or src.name,
        source=info,
        frame_count=source.frame_count,
        width=source.width,
        height=source.height,
        fps=float(source.fps),
    )


def _fill(project: Project, source: FrameSource, progress: ProgressFn | None, cancel: CancelFn | None) -> None:
    media = project.media
    total = project.manifest.frame_count
    is_video = isinstance(source, VideoFrameSource)
    detector = CutDetector()
    holds = HoldDetector()
    done = 0
    for frame in source:
        if cancel is not None and cancel():
            raise ImportCancelled("The import was cancelled.")
        if done >= total:
            raise InputError(f"{Path(project.manifest.source.path).name} has more frames than its index says.")
        if not is_video:
            files = getattr(source, "files", None)
            media.write_frame(done, frame, files[done].read_bytes() if files is not None else None)
        proxy = cv2.resize(frame, media.proxy_wh, interpolation=cv2.INTER_AREA)
        thumb = cv2.resize(proxy, media.thumb_wh, interpolation=cv2.INTER_AREA)
        media.write_proxy(done, proxy)
        media.write_thumbnail(done, thumb)
        detector.push(thumb)
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
    if isinstance(source, VideoFrameSource):
        # After the full pass the source's index is the exact, decoded one.
        for key, array in source.index.to_arrays().items():
            media.write_array(f"{VideoIndex.ARRAY_PREFIX}/{key}", array)
        project.manifest.source.gop = source.gop
    project.manifest.shots = cuts_to_shots(detector.finish(), total)
    project.set_held(holds.held)
    media.flush()
    project.save_manifest()


def _remove(root: Path, created: bool) -> None:
    """Undo a failed import: the folder if we made it, else only our files in it."""
    try:
        if created:
            shutil.rmtree(root, ignore_errors=True)
            return
        for name in PROJECT_FILES:
            (root / name).unlink(missing_ok=True)
    except OSError:
        pass  # best effort: the original error is what the user needs to see
