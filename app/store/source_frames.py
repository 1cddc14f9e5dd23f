"""A project's full-resolution source frames: decoded from the source video, or read from
``media.h5`` (image folders and generated projects keep their frames there), through one cache."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from app.errors import InputError, ProjectDamaged
from app.sources.cache import FrameCache
from app.sources.source import FrameSource, VideoIndex, open_source
from app.sources.video import VideoFrameSource
from app.store.manifest import Manifest
from app.store.media import MEDIA_FILE, REIMPORT_ADVICE, MediaStore

# Decoded full-resolution frames kept per project: each stage reads its frame again, and 8 frames of
# 1080p are 50 MB; scrubbing is served by the proxies, not by this cache.
FRAME_CACHE = 8
# Open decoders of the source video. Reads come in several runs at once (two shots of a stage, a
# stage's frame threads taking frames out of order): with one decoder each switch between them was
# a seek and a decode from the keyframe (the 1080p slice decoded 1677 frames to read 234). A read
# takes the decoder that reaches its frame by decoding the fewest frames forward; when none can,
# a decoder not used lately seeks. The frames are the same: each is a decode from its keyframe.
DECODERS = 4


class SourceFrames:
    """``frames.get(i)``: frame ``i`` as read-only RGB uint8 (H, W, 3), safe to call from any thread.

    The video is opened on the first read (so opening a project to read its layers never touches
    the source file) with no cache of its own: this cache is the only one.
    """

    def __init__(self, manifest: Manifest, media: MediaStore, *, capacity: int = FRAME_CACHE) -> None:
        self.manifest = manifest
        self.media = media
        self.cache = FrameCache(capacity)
        self._source: FrameSource | None = None
        self._decoders: list[VideoFrameSource] = []  # more of the video's, least recently used first
        self._lock = threading.Lock()  # reads of the source are serialised

    def get(self, index: int) -> np.ndarray:
        count = self.manifest.frame_count
        if not 0 <= index < count:
            raise IndexError(f"frame {index} is outside 0..{count - 1}")
        cached = self.cache.get(index)
        if cached is not None:
            return cached
        if self.manifest.source.kind != "video":
            return self.cache.put(index, self.media.read_frame(index))
        with self._lock:
            cached = self.cache.get(index)  # another thread may have decoded it while this one waited
            if cached is not None:
                return cached
            return self.cache.put(index, self._decoder(index).get(index))

    def _decoder(self, index: int) -> FrameSource:
        """The decoder to read frame ``index`` with (`DECODERS`); the first one opened is `_source`."""
        if self._source is None:
            self._source = self._open_video()
        if not isinstance(self._source, VideoFrameSource):
            return self._source
        if not self._decoders:
            self._decoders.append(self._source)
        reach = [(n, d) for d in self._decoders if (n := d.forward_frames(index)) is not None]
        if reach:
            chosen = min(reach, key=lambda r: r[0])[1]
        elif len(self._decoders) < DECODERS:
            first = self._source
            chosen = VideoFrameSource(first.path, index=first.index, cache_frames=0, probe=False)
        else:
            chosen = self._decoders[0]
        if chosen in self._decoders:
            self._decoders.remove(chosen)
        self._decoders.append(chosen)
        return chosen

    def _open_video(self) -> FrameSource:
        path = Path(self.manifest.source.path)
        if not path.is_file():
            raise InputError(f"The source video {path} is missing; move it back or re-link the project.")
        try:
            arrays = self.media.read_arrays(VideoIndex.ARRAY_PREFIX)
            index = VideoIndex.from_arrays(arrays) if arrays else None
        except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError, ZeroDivisionError) as exc:
            raise ProjectDamaged(
                f"The frame index of the source video in {MEDIA_FILE} is damaged ({type(exc).__name__}: {exc}). "
                f"{REIMPORT_ADVICE}",
                recoverable="media (re-import the source)",
            ) from exc
        return open_source(path, index=index, cache_frames=0)

    def close(self) -> None:
        with self._lock:
            for decoder in self._decoders[:]:
                if decoder is not self._source:
                    decoder.close()
            self._decoders.clear()
            if self._source is not None:
                self._source.close()
                self._source = None
        self.cache.clear()
