"""Rebuild a project's ``media.h5`` from its source (a damaged media file, issue #15 item 11).

The media file holds nothing the user made: proxies, thumbnails, the video's frame index and, for an
image folder, the frames themselves, all of which the source gives back. The new file is built beside
the old one (``media.h5.rebuild``) and swapped in only when complete; the damaged file is kept as
``media.h5.damaged-<time>``. Layers, the journal and the index are not touched. The project lock is
held throughout, so the app cannot have the project open meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from app.errors import InputError, ProjectError
from app.ingest.frames import store_frame, store_video_index
from app.sources.source import FrameSource, content_hash, open_source
from app.store.lock import ProjectLock
from app.store.manifest import fsync_dir, read_manifest
from app.store.media import MEDIA_FILE, MediaStore

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


def reimport_media(root: Path, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Path | None:
    """Rebuild ``root/media.h5`` from the project's source; returns where the old file was kept
    (None if there was none). Refuses when the source is gone, changed, or a generated demo."""
    root = Path(root)
    manifest = read_manifest(root)
    info = manifest.source
    if info.kind == "generated":
        raise InputError("This project was generated (the demo); delete it and run `celstudio demo` to make it again.")
    src = Path(info.path)
    if not src.exists():
        raise InputError(f"The source {src} is missing; move it back to re-import the media.")
    if info.content_hash and content_hash(src) != info.content_hash:
        raise InputError(f"The source {src} has changed since it was imported; its frames would not match the project.")
    lock = ProjectLock.acquire(root)
    target = root / f"{MEDIA_FILE}.rebuild"
    try:
        target.unlink(missing_ok=True)
        source = open_source(src)
        try:
            if (source.frame_count, source.width, source.height) != (manifest.frame_count, manifest.width, manifest.height):
                raise InputError(
                    f"The source {src.name} now has {source.frame_count} frames of {source.width}x{source.height}, "
                    f"the project {manifest.frame_count} of {manifest.width}x{manifest.height}; it cannot rebuild the media."
                )
            _build(target, source, manifest.frame_count, manifest.width, manifest.height, progress, cancel)
        finally:
            source.close()
        old = root / MEDIA_FILE
        kept: Path | None = None
        if old.exists():
            kept = root / f"{MEDIA_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(old, kept)
        os.replace(target, old)
        fsync_dir(root)
        return kept
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        lock.release()


def _build(
    target: Path, source: FrameSource, frames: int, width: int, height: int, progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> None:
    media = MediaStore(target, frames, width, height, create=True)
    try:
        done = 0
        for frame in source:
            if cancel is not None and cancel():
                raise ProjectError("The re-import was cancelled; the old media file is unchanged.")
            if done >= frames:
                break
            store_frame(media, done, frame, source)
            done += 1
            if progress is not None:
                progress(done, frames)
        if done != frames:
            raise InputError(f"Only {done} of {frames} frames of the source can be decoded; the media was not rebuilt.")
        store_video_index(media, source)
        media.flush()
    finally:
        media.close()
