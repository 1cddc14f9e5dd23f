"""Video files as frame sources (PyAV), with frame-accurate random access through a `VideoIndex`
(`app.sources.video_index`: how frames are addressed and how the index is built).

Random access seeks to the keyframe at or before the target's pts and decodes forward until the
decoded frame's pts equals the target's, so it never relies on a constant frame rate (variable frame
rate files work) nor on the container's idea of "frame N".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np

from app.errors import InputError
from app.sources.cache import FrameCache
from app.sources.common import DEFAULT_IMAGE_FPS, SourceKind, check_index, frame_size_error
from app.sources.video_index import (
    VideoIndex,
    av_errors,
    build_index,
    check_frame_size,
    index_from_decoded,
    open_container,
)

# Decoding a few frames forward is cheaper than a seek plus a decode from the keyframe, so when
# the target is at most this many frames after the last decoded one, the open decoder is reused.
FORWARD_REUSE = 24


def _to_rgb(frame: Any, path: Path, size: tuple[int, int] | None = None, i: int = 0) -> np.ndarray:
    if size is not None:
        check_frame_size(frame, size, i, path)
    try:
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except av_errors() as exc:
        raise InputError(f"The pixel format {frame.format.name} of {path.name} is not supported.") from exc


class VideoFrameSource:
    """Frame-accurate access to one video stream through PyAV.

    `get(i)` returns exactly frame i of a sequential decode: it seeks to the keyframe at or before
    frame i's pts and decodes forward until the pts matches, reusing the open decoder when frame i
    is a little after the last decoded one. `__iter__` decodes sequentially in a container of its
    own, and replaces a packet-built index by the decoded frames' exact one when they differ.
    Calls to `get` are serialised by a lock, so a UI thread and a worker may share a source.

    Parameters
    ----------
    path : Path
        The video file.
    index : VideoIndex, optional
        A stored index; without one the file is scanned once (packets only when their timestamps
        can be trusted, else by decoding).
    cache_frames : int
        How many requested frames the LRU cache keeps (0 when the caller caches frames itself).
    probe : bool
        Decode the first frame on opening (a file that cannot be decoded fails here); False for a
        second decoder of a file already opened (`app.store.source_frames`).
    """

    def __init__(
        self, path: Path, *, index: VideoIndex | None = None, cache_frames: int = 32, probe: bool = True,
    ) -> None:
        import threading

        self.path = Path(path)
        self.kind: SourceKind = "video"
        self._lock = threading.RLock()
        self._container, self._stream = open_container(self.path, index.stream_index if index else 0)
        try:
            self._setup(index, probe)
        except BaseException:
            self._container.close()
            raise
        self._cache = FrameCache(cache_frames)

    def _setup(self, index: VideoIndex | None, probe: bool = True) -> None:
        cc = self._stream.codec_context
        if cc is None:
            raise InputError(f"{self.path.name} has a video stream that cannot be decoded.")
        self.codec = str(cc.name or "")
        self.pix_fmt = str(cc.pix_fmt or "")
        self.width, self.height = int(cc.width or 0), int(cc.height or 0)
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"{self.path.name} has a video stream of unknown size.")
        problem = frame_size_error(self.path.name, self.width, self.height)
        if problem:
            raise InputError(problem)
        if index is None:
            index = build_index(self._container, self._stream, self.path)
        if index.frame_count == 0:
            raise InputError(f"{self.path.name} has no video frames.")
        self.index = index
        self.frame_count = index.frame_count
        rate = self._stream.average_rate
        if rate and float(rate) > 0:
            self.fps = float(rate)
        elif index.frame_count > 1 and not index.counted:
            span = float((index.pts[-1] - index.pts[0]) * index.time_base)
            self.fps = (index.frame_count - 1) / span if span > 0 else DEFAULT_IMAGE_FPS
        else:
            self.fps = DEFAULT_IMAGE_FPS
        self._decoder: Iterator[Any] | None = None
        self._pos = -1  # index of the last frame the open decoder produced
        # Decode the first frame now: a file that opens but cannot be decoded (unsupported codec
        # or pixel format, garbage after a valid header) fails here with a clear error.
        self._first: np.ndarray | None = self._decode_at(0) if probe else None

    @property
    def gop(self) -> int:
        return self.index.gop

    def __len__(self) -> int:
        return self.frame_count

    def get(self, index: int) -> np.ndarray:
        """Return frame `index` (presentation order) as RGB uint8 (H, W, 3)."""
        i = check_index(index, self.frame_count)
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                return hit.copy()
            if i == 0 and self._first is not None:
                frame, self._first = self._first, None
            else:
                frame = self._decode_at(i)
            if self._cache.capacity:
                self._cache.put(i, frame.copy())
            return frame

    # -- random access ---------------------------------------------------------------------

    def forward_frames(self, index: int) -> int | None:
        """How many frames `get(index)` decodes with the open decoder (0: none, the frame is at hand),
        or None when it has to seek (to the keyframe before the frame, or back to the start)."""
        with self._lock:
            if (index == 0 and self._first is not None) or self._cache.get(index) is not None:
                return 0
            return index - self._pos if self._reusable(index) else None

    def _reusable(self, i: int) -> bool:
        """Whether frame i is reached by decoding forward from the open decoder, without a seek."""
        return self._decoder is not None and self._pos < i and (
            i - self._pos <= FORWARD_REUSE or self.index.keyframe_at_or_before(i) <= self._pos
        )

    def _decode_at(self, i: int) -> np.ndarray:
        idx = self.index
        if self._reusable(i):
            found = self._forward(i)
            if found is not None:
                return found
        if not idx.counted:
            k = idx.keyframe_at_or_before(i)
            # If the demuxer lands after the target (its seek index disagrees with ours), step
            # back one keyframe at a time; a restart from the very beginning always works.
            for _attempt in range(3):
                self._seek(k)
                found = self._forward(i)
                if found is not None:
                    return found
                if k == 0:
                    break
                k = idx.keyframe_at_or_before(k - 1)
        self._restart()
        found = self._forward(i)
        if found is None:
            raise InputError(f"Frame {i} of {self.path.name} cannot be decoded; the file may be damaged.")
        return found

    def _seek(self, k: int) -> None:
        try:
            self._container.seek(int(self.index.pts[k]), stream=self._stream, backward=True, any_frame=False)
        except av_errors():
            self._restart()
            return
        self._decoder = iter(self._container.decode(self._stream))
        self._pos = -1 if k == 0 else k - 1  # unknown until a frame comes out; refined in _forward

    def _restart(self) -> None:
        self._container.close()
        self._container, self._stream = open_container(self.path, self.index.stream_index)
        self._decoder = iter(self._container.decode(self._stream))
        self._pos = -1

    def _forward(self, i: int) -> np.ndarray | None:
        """Decode forward to frame i; None when the decoder passes it or ends without it."""
        assert self._decoder is not None
        idx = self.index
        target = int(idx.pts[i])
        count = self._pos
        try:
            for frame in self._decoder:
                if idx.counted:
                    count += 1
                    self._pos = count
                    if count == i:
                        return _to_rgb(frame, self.path, (self.width, self.height), i)
                    if count > i:
                        return None
                    continue
                p = frame.pts
                pos = idx.position(p)
                if pos is not None:
                    self._pos = pos
                if p is not None and p == target:
                    return _to_rgb(frame, self.path, (self.width, self.height), i)
                if p is not None and p > target:
                    return None
        except av_errors() as exc:
            if isinstance(exc, InputError):
                raise
            self._decoder = None
            raise InputError(f"{self.path.name} is corrupt near frame {i} and cannot be decoded.") from exc
        self._decoder = None
        return None

    # -- sequential ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[np.ndarray]:
        """Decode every frame in order (fast); afterwards `index` holds the exact decoded index."""
        container, stream = open_container(self.path, self.index.stream_index)
        pts: list[int | None] = []
        keys: list[bool] = []
        try:
            try:
                for frame in container.decode(stream):
                    pts.append(frame.pts)
                    keys.append(bool(frame.key_frame))
                    yield _to_rgb(frame, self.path, (self.width, self.height), len(pts) - 1)
            except InputError:
                raise
            except av_errors() as exc:
                raise InputError(
                    f"{self.path.name} is corrupt near frame {len(pts)} and cannot be decoded."
                ) from exc
        finally:
            container.close()
        self._adopt_decoded(pts, keys)

    def _adopt_decoded(self, pts: list[int | None], keys: list[bool]) -> None:
        decoded = index_from_decoded(pts, keys, self.index.time_base, self.index.stream_index)
        with self._lock:
            if not decoded.counted and np.array_equal(decoded.pts, self.index.pts):
                # Same frames: keep the demuxer's keyframe flags, they are what seeking uses.
                self.index.verified = True
                return
            self.index = decoded
            self.frame_count = decoded.frame_count
            self._cache.clear()
            self._decoder = None
            self._pos = -1

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._decoder = None
            self._container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
