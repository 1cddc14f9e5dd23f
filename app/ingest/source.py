"""Frame sources: videos (PyAV) and image folders, with frame-accurate random access.

A frame is addressed by its 0-based index in presentation order, exactly as a plain sequential
decode would number it. For video this is made exact by a `VideoIndex`: the presentation time
stamp (pts) of every frame, sorted, plus keyframe flags. Random access seeks to the keyframe at or
before the target pts and decodes forward until the decoded frame's pts equals the target's, so
it never relies on a constant frame rate (variable frame rate files work) nor on the container's
idea of "frame N".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from app.errors import InputError
from app.ingest.common import natural_key
from app.ingest.images import IMAGE_SUFFIXES, ImageFolderSource, image_files
from app.ingest.video import VideoFrameSource, VideoIndex

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "FrameSource",
    "ImageFolderSource",
    "VideoFrameSource",
    "VideoIndex",
    "content_hash",
    "natural_key",
    "open_source",
]

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"})


class FrameSource(Protocol):
    """What every frame source offers.

    Attributes
    ----------
    frame_count, width, height : int
        Number of frames and their size in pixels.
    fps : float
        Nominal frames per second (average for variable-frame-rate video).
    """

    frame_count: int
    width: int
    height: int
    fps: float

    def get(self, index: int) -> np.ndarray: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


def open_source(path: Path, *, index: VideoIndex | None = None, cache_frames: int = 32) -> FrameSource:
    """Open a video file or a folder of images as a `FrameSource`.

    Parameters
    ----------
    path : Path
        A video file (mp4, mkv, webm, mov, avi) or a folder of png/jpg/webp images.
    index : VideoIndex, optional
        A previously built index of the video (from `VideoIndex.from_arrays`), so reopening does
        not rescan the file. Ignored for image folders.
    cache_frames : int
        How many decoded frames the LRU cache keeps.

    Raises
    ------
    InputError
        The path is missing, is not a readable video or image folder, or has no frames.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"The file or folder {path} does not exist.")
    if path.is_dir():
        return ImageFolderSource(path, cache_frames=cache_frames)
    return VideoFrameSource(path, index=index, cache_frames=cache_frames)


def content_hash(path: Path) -> str:
    """A fast fingerprint of a file or image folder, as a hex string.

    This is NOT a hash of every byte: for a file it is the sha256 of the file size, the first and
    last MiB and 16 evenly spaced 64 KiB chunks of the middle. That tells apart different videos
    and catches truncation or re-encoding in a few milliseconds even for multi-GB files. For a
    folder it hashes the sorted image names and sizes plus the fingerprints of the first and the
    last image.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        files = image_files(path)
        for f in files:
            h.update(f"{f.name}\0{f.stat().st_size}\n".encode())
        for f in files[:1] + files[-1:]:
            h.update(content_hash(f).encode())
        return h.hexdigest()
    mib = 1 << 20
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(mib))
        if size > 2 * mib:
            chunk = 64 * 1024
            for k in range(1, 17):
                fh.seek(mib + (size - 2 * mib - chunk) * k // 17)
                h.update(fh.read(chunk))
        if size > mib:
            fh.seek(max(mib, size - mib))
            h.update(fh.read())
    return h.hexdigest()
