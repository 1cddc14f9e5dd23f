"""Video files as frame sources (PyAV), with frame-accurate random access through a `VideoIndex`.

A frame is addressed by its 0-based index in presentation order, exactly as a plain sequential
decode would number it: the index holds the presentation time stamp (pts) of every frame, sorted,
plus keyframe flags. Random access seeks to the keyframe at or before the target pts and decodes
forward until the decoded frame's pts equals the target's, so it never relies on a constant frame
rate (variable frame rate files work) nor on the container's idea of "frame N".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import numpy as np

from app.errors import InputError
from app.sources.cache import FrameCache
from app.sources.common import DEFAULT_IMAGE_FPS, check_index, frame_size_error

INDEX_VERSION = 1
# Decoding a few frames forward is cheaper than a seek plus a decode from the keyframe, so when
# the target is at most this many frames after the last decoded one, the open decoder is reused.
FORWARD_REUSE = 24


@dataclass
class VideoIndex:
    """Where every frame of a video is: its pts in presentation order and whether it is a keyframe.

    Attributes
    ----------
    pts : np.ndarray
        int64 (N,), strictly increasing presentation timestamps in `time_base` units; frame i of a
        sequential decode has pts[i].
    keyframe : np.ndarray
        bool (N,), True where decoding may start.
    time_base : Fraction
        Seconds per pts unit.
    stream_index : int
        Which video stream of the container (its index among the video streams).
    verified : bool
        True when the pts come from decoded frames (exact), False when from the packet scan.
    counted : bool
        True when the file has no usable timestamps: frames are then found by counting from the
        start (exact but slow); pts is then simply 0..N-1.
    """

    pts: np.ndarray
    keyframe: np.ndarray
    time_base: Fraction
    stream_index: int = 0
    verified: bool = False
    counted: bool = False
    _lookup: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    # `to_arrays()` keys; the importer stores them as ``video_index/<name>`` in media.h5, and the
    # store reads them back with ``media.read_arrays("video_index")``.
    ARRAY_NAMES = ("pts", "keyframe", "info")
    ARRAY_PREFIX = "video_index"

    def __post_init__(self) -> None:
        self.pts = np.asarray(self.pts, dtype=np.int64)
        self.keyframe = np.asarray(self.keyframe, dtype=bool)
        if self.keyframe.size:
            self.keyframe[0] = True  # decoding always may start at the first frame
        self._lookup = {int(p): i for i, p in enumerate(self.pts.tolist())}
        self._key_positions = np.flatnonzero(self.keyframe)

    @property
    def frame_count(self) -> int:
        return int(self.pts.size)

    @property
    def gop(self) -> int:
        """The longest run of frames from one keyframe to the next (the worst-case decode)."""
        if not self.pts.size:
            return 0
        bounds = np.append(self._key_positions, self.pts.size)
        return int(np.diff(bounds).max())

    def keyframe_at_or_before(self, i: int) -> int:
        k = int(np.searchsorted(self._key_positions, i, side="right")) - 1
        return int(self._key_positions[max(k, 0)])

    def position(self, pts: int | None) -> int | None:
        return None if pts is None else self._lookup.get(int(pts))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The index as plain arrays (names `ARRAY_NAMES`), for `MediaStore.write_array`."""
        info = [self.time_base.numerator, self.time_base.denominator, self.stream_index,
                int(self.verified), int(self.counted), INDEX_VERSION]
        return {
            "pts": self.pts.copy(),
            "keyframe": self.keyframe.astype(np.uint8),
            "info": np.asarray(info, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray | None]) -> VideoIndex:
        """Rebuild an index from `to_arrays()` output (e.g. read back with `MediaStore.read_arrays`)."""
        pts, key, info = (arrays.get(n) for n in cls.ARRAY_NAMES)
        if pts is None or key is None or info is None or len(info) < 5 or len(pts) != len(key):
            raise InputError("The stored video index is incomplete; re-import the video.")
        return cls(
            pts=np.asarray(pts, dtype=np.int64),
            keyframe=np.asarray(key).astype(bool),
            time_base=Fraction(int(info[0]), int(info[1])),
            stream_index=int(info[2]),
            verified=bool(info[3]),
            counted=bool(info[4]),
        )


def _av() -> Any:
    import av

    return av


def _av_errors() -> tuple[type[BaseException], ...]:
    av = _av()
    return (av.error.FFmpegError, OSError, ValueError, EOFError)


def _open_container(path: Path, stream_index: int = 0) -> tuple[Any, Any]:
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except _av_errors() as exc:
        raise InputError(f"{path.name} is not a readable video file.") from exc
    if len(container.streams.video) <= stream_index:
        container.close()
        raise InputError(f"{path.name} has no video stream.")
    stream = container.streams.video[stream_index]
    # Threads speed decoding up; output stays bit-identical to a single-threaded decode.
    stream.thread_type = "AUTO"
    return container, stream


def _scan_packets(container: Any, stream: Any, path: Path) -> tuple[VideoIndex | None, int]:
    """Index from the demuxer alone (no decoding), and the number of frames a decode should give.

    The index is None when the timestamps cannot be trusted. Raises InputError when the container
    declares more frames than it holds (a truncated file).
    """
    pts: list[int] = []
    keys: list[bool] = []
    trusted = True
    count = discarded = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the flush packet at the end
            count += 1
            if packet.is_discard:
                discarded += 1
            if packet.pts is None or packet.is_discard or packet.is_corrupt:
                trusted = False  # keep counting: the declared-count check below still applies
                continue
            pts.append(int(packet.pts))
            keys.append(bool(packet.is_keyframe))
    except _av_errors() as exc:
        raise InputError(f"{path.name} is corrupt or truncated and cannot be read.") from exc
    declared = int(stream.frames or 0)
    if count < declared:
        raise InputError(f"{path.name} is truncated: it declares {declared} frames but holds only {count}.")
    if not declared:  # a declared frame count (mp4, mov) is the better witness; durations may be rough
        _check_duration(container, stream, path, pts if trusted else [], count - discarded)
    if not trusted:
        return None, count - discarded
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    sorted_pts = np.asarray(pts, dtype=np.int64)[order]
    if sorted_pts.size and np.any(np.diff(sorted_pts) <= 0):
        return None, count - discarded  # duplicate timestamps: only counting decoded frames is exact
    tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
    index = VideoIndex(sorted_pts, np.asarray(keys, dtype=bool)[order], tb,
                       stream_index=_video_stream_number(container, stream))
    return index, count - discarded


# A stream may end this much short of its declared duration (rounding, a last frame's length, an
# audio track a little longer than the video) before it counts as truncated.
TRUNCATION_SLACK_FRAMES = 3
TRUNCATION_SLACK_FRACTION = 0.02


def _declared_seconds(container: Any, stream: Any) -> float | None:
    """How long the container says this video stream is, or None when it does not say.

    Matroska/WebM keep no frame count, only durations written up front: the segment's, and
    (ffmpeg-written files) a per-track ``DURATION`` tag. Both survive a cut, so they tell a file cut
    in half from a short one.
    """
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = str((stream.metadata or {}).get("DURATION", "") or "")
    parts = tag.split(":")
    if len(parts) == 3:
        try:
            return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    return None


def _check_duration(container: Any, stream: Any, path: Path, pts: list[int], frames: int) -> None:
    """Raise InputError when the stream holds clearly less video than its container declares."""
    declared = _declared_seconds(container, stream)
    rate = stream.average_rate or stream.guessed_rate
    if not declared or not rate or float(rate) <= 0 or frames <= 0:
        return
    frame_s = 1.0 / float(rate)
    if len(pts) == frames and stream.time_base:
        held = float((max(pts) - min(pts)) * Fraction(stream.time_base)) + frame_s
    else:
        held = frames * frame_s
    slack = max(TRUNCATION_SLACK_FRAMES * frame_s, TRUNCATION_SLACK_FRACTION * declared)
    if held < declared - slack:
        raise InputError(
            f"{path.name} is truncated: it declares {declared:.2f} s of video but holds only "
            f"{held:.2f} s ({frames} frames)."
        )


def _video_stream_number(container: Any, stream: Any) -> int:
    return [s.index for s in container.streams.video].index(stream.index)


def _scan_frames(container: Any, stream: Any, path: Path) -> VideoIndex:
    """Index from decoding every frame: slow but exact, used when the packets cannot be trusted."""
    pts: list[int | None] = []
    keys: list[bool] = []
    size = (stream.codec_context.width, stream.codec_context.height)
    try:
        for frame in container.decode(stream):
            _check_size(frame, size, len(pts), path)
            pts.append(frame.pts)
            keys.append(bool(frame.key_frame))
    except _av_errors() as exc:
        raise InputError(f"{path.name} is corrupt or truncated and cannot be read.") from exc
    return _index_from_decoded(pts, keys, Fraction(stream.time_base or 1), _video_stream_number(container, stream))


def _index_from_decoded(pts: list[int | None], keys: list[bool], tb: Fraction, stream_number: int) -> VideoIndex:
    arr = np.asarray([-1 if p is None else p for p in pts], dtype=np.int64)
    if None in pts or (arr.size > 1 and np.any(np.diff(arr) <= 0)):
        # No usable timestamps: address frames by counting them from the start.
        n = len(pts)
        return VideoIndex(np.arange(n), np.eye(1, n, dtype=bool)[0] if n else np.zeros(0, bool), tb,
                          stream_index=stream_number, verified=True, counted=True)
    return VideoIndex(arr, np.asarray(keys, dtype=bool), tb, stream_index=stream_number, verified=True)


def _check_size(frame: Any, size: tuple[int, int], i: int, path: Path) -> None:
    """Refuse a stream whose picture size changes (a project has one frame size for every layer)."""
    if (frame.width, frame.height) != size:
        raise InputError(
            f"{path.name} changes its picture size at frame {i} (from {size[0]}x{size[1]} to "
            f"{frame.width}x{frame.height}); convert it to one size first, e.g. "
            f"ffmpeg -i {path.name} -vf scale={size[0]}:{size[1]} out.mp4."
        )


def _to_rgb(frame: Any, path: Path, size: tuple[int, int] | None = None, i: int = 0) -> np.ndarray:
    if size is not None:
        _check_size(frame, size, i, path)
    try:
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except _av_errors() as exc:
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
    """

    def __init__(self, path: Path, *, index: VideoIndex | None = None, cache_frames: int = 32) -> None:
        import threading

        self.path = Path(path)
        self.kind = "video"
        self._lock = threading.RLock()
        self._container, self._stream = _open_container(self.path, index.stream_index if index else 0)
        try:
            self._setup(index)
        except BaseException:
            self._container.close()
            raise
        self._cache = FrameCache(cache_frames)

    def _setup(self, index: VideoIndex | None) -> None:
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
            index, expected = _scan_packets(self._container, self._stream, self.path)
            if index is None:
                self._container.seek(0)
                index = _scan_frames(self._container, self._stream, self.path)
                if index.frame_count < expected:
                    raise InputError(
                        f"{self.path.name} is damaged or truncated: only {index.frame_count} of its "
                        f"{expected} frames can be decoded."
                    )
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
        self._first: np.ndarray | None = self._decode_at(0)

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

    def _decode_at(self, i: int) -> np.ndarray:
        idx = self.index
        if self._decoder is not None and self._pos < i and (
            i - self._pos <= FORWARD_REUSE or idx.keyframe_at_or_before(i) <= self._pos
        ):
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
        except _av_errors():
            self._restart()
            return
        self._decoder = iter(self._container.decode(self._stream))
        self._pos = -1 if k == 0 else k - 1  # unknown until a frame comes out; refined in _forward

    def _restart(self) -> None:
        self._container.close()
        self._container, self._stream = _open_container(self.path, self.index.stream_index)
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
        except _av_errors() as exc:
            if isinstance(exc, InputError):
                raise
            self._decoder = None
            raise InputError(f"{self.path.name} is corrupt near frame {i} and cannot be decoded.") from exc
        self._decoder = None
        return None

    # -- sequential ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[np.ndarray]:
        """Decode every frame in order (fast); afterwards `index` holds the exact decoded index."""
        container, stream = _open_container(self.path, self.index.stream_index)
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
            except _av_errors() as exc:
                raise InputError(
                    f"{self.path.name} is corrupt near frame {len(pts)} and cannot be decoded."
                ) from exc
        finally:
            container.close()
        self._adopt_decoded(pts, keys)

    def _adopt_decoded(self, pts: list[int | None], keys: list[bool]) -> None:
        decoded = _index_from_decoded(pts, keys, self.index.time_base, self.index.stream_index)
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
