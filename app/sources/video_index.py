"""The frame index of a video (`VideoIndex`) and how it is built from a file.

A frame is addressed by its 0-based index in presentation order, exactly as a plain sequential
decode would number it: the index holds the presentation time stamp (pts) of every frame, sorted,
plus keyframe flags. It is built from the demuxer's packets when their timestamps can be trusted
(fast, no decoding), else by decoding every frame; a file whose timestamps are unusable is indexed
by counting frames. Building it is also where a truncated or damaged file is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import InputError

INDEX_VERSION = 1


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


def av_errors() -> tuple[type[BaseException], ...]:
    """What PyAV raises on a file it cannot demux or decode (PyAV is imported on first use)."""
    av = _av()
    return (av.error.FFmpegError, OSError, ValueError, EOFError)


def open_container(path: Path, stream_index: int = 0) -> tuple[Any, Any]:
    """The open container of ``path`` and its ``stream_index``-th video stream."""
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except av_errors() as exc:
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
    except av_errors() as exc:
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
            check_frame_size(frame, size, len(pts), path)
            pts.append(frame.pts)
            keys.append(bool(frame.key_frame))
    except av_errors() as exc:
        raise InputError(f"{path.name} is corrupt or truncated and cannot be read.") from exc
    return index_from_decoded(pts, keys, Fraction(stream.time_base or 1), _video_stream_number(container, stream))


def index_from_decoded(pts: list[int | None], keys: list[bool], tb: Fraction, stream_number: int) -> VideoIndex:
    """The exact index of a full decode, from each decoded frame's pts and keyframe flag."""
    arr = np.asarray([-1 if p is None else p for p in pts], dtype=np.int64)
    if None in pts or (arr.size > 1 and np.any(np.diff(arr) <= 0)):
        # No usable timestamps: address frames by counting them from the start.
        n = len(pts)
        return VideoIndex(np.arange(n), np.eye(1, n, dtype=bool)[0] if n else np.zeros(0, bool), tb,
                          stream_index=stream_number, verified=True, counted=True)
    return VideoIndex(arr, np.asarray(keys, dtype=bool), tb, stream_index=stream_number, verified=True)


def check_frame_size(frame: Any, size: tuple[int, int], i: int, path: Path) -> None:
    """Refuse a stream whose picture size changes (a project has one frame size for every layer)."""
    if (frame.width, frame.height) != size:
        raise InputError(
            f"{path.name} changes its picture size at frame {i} (from {size[0]}x{size[1]} to "
            f"{frame.width}x{frame.height}); convert it to one size first, e.g. "
            f"ffmpeg -i {path.name} -vf scale={size[0]}:{size[1]} out.mp4."
        )


def build_index(container: Any, stream: Any, path: Path) -> VideoIndex:
    """Index ``stream`` of an open ``container``: from its packets when their timestamps can be
    trusted, else by decoding every frame (the container is left somewhere in the stream).

    Raises
    ------
    InputError
        The file is truncated or damaged (fewer frames than it declares, or than its packets hold).
    """
    index, expected = _scan_packets(container, stream, path)
    if index is not None:
        return index
    container.seek(0)
    index = _scan_frames(container, stream, path)
    if index.frame_count < expected:
        raise InputError(
            f"{path.name} is damaged or truncated: only {index.frame_count} of its "
            f"{expected} frames can be decoded."
        )
    return index
