"""Opening a frame source: `open_source` picks a video (`app.sources.video`) or an image folder
(`app.sources.images`) behind one `FrameSource` protocol, and checks a path before import.

How frames are addressed is in `app.sources.video_index`, how video random access is made exact in
`app.sources.video`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from app.errors import InputError
from app.sources.common import SourceKind, natural_key
from app.sources.images import IMAGE_SUFFIXES, ImageFolderSource, image_files
from app.sources.video import VideoFrameSource
from app.sources.video_index import VideoIndex

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "FrameSource",
    "ImageFolderSource",
    "VideoFrameSource",
    "VideoIndex",
    "check_source_path",
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

    `get` returns a frame the caller owns (RGB uint8); iterating decodes every frame in order.
    """

    frame_count: int
    width: int
    height: int
    fps: float
    kind: SourceKind
    codec: str  # the video codec and pixel format ("" for images)
    pix_fmt: str

    @property
    def gop(self) -> int:
        """The longest run of frames one random access may decode (1 for images)."""
        ...

    def get(self, index: int) -> np.ndarray: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


def open_source(path: Path, *, index: VideoIndex | None = None, cache_frames: int = 32) -> FrameSource:
    """Open a video file or a folder of images as a `FrameSource`.

    Parameters
    ----------
    path : Path
        A video file (any container PyAV reads; `VIDEO_SUFFIXES` are the ones the open dialog lists)
        or a folder of png/jpg/webp images.
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
    path = check_source_path(Path(path))
    if path.is_dir():
        return ImageFolderSource(path, cache_frames=cache_frames)
    return VideoFrameSource(path, index=index, cache_frames=cache_frames)


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_source_path(path: Path) -> Path:
    """The absolute, symlink-free path of a source, once it is known to be a regular file or a folder.

    Everything else is refused before it is opened: a FIFO or a device would block the demuxer
    forever (and Ctrl+C with it), a symlink loop or an over-long name would raise a bare OSError.

    Raises
    ------
    InputError
        The path is missing, unreadable, a symlink loop, too long, or not a regular file or folder.
    """
    path = Path(path).expanduser()
    try:
        st = os.stat(path)  # follows symlinks: a link to a video is fine, a loop fails here
    except OSError as exc:
        reasons = {
            errno.ENOENT: "does not exist",
            errno.ENOTDIR: "does not exist",
            errno.ELOOP: "is a symbolic link that loops back on itself",
            errno.ENAMETOOLONG: "has a name longer than the file system allows",
            errno.EACCES: "cannot be read (permission denied)",
        }
        reason = reasons.get(exc.errno or 0, f"cannot be read ({exc.strerror or exc})")
        raise InputError(f"The file or folder {path} {reason}.") from exc
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(f"{path} is {kind}; Celstudio imports video files and folders of images only.")
    return Path(os.path.realpath(path))


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
