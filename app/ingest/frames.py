"""What an import keeps of each source frame, shared by the import and the media rebuild: a proxy, a
thumbnail and, for an image folder, the file itself (a video's frames are re-decoded from the source
on demand, exactly, through its stored `VideoIndex`)."""

from __future__ import annotations

import cv2
import numpy as np

from app.sources.images import ImageFolderSource
from app.sources.source import FrameSource, VideoFrameSource, VideoIndex
from app.store.media import MediaStore


def store_frame(media: MediaStore, index: int, frame: np.ndarray, source: FrameSource) -> np.ndarray:
    """Write frame ``index`` of ``source`` into ``media``; returns its thumbnail."""
    if isinstance(source, ImageFolderSource):
        media.write_frame(index, frame, source.files[index].read_bytes())  # byte for byte (or as smaller PNG)
    proxy = cv2.resize(frame, media.proxy_wh, interpolation=cv2.INTER_AREA)
    thumb = cv2.resize(proxy, media.thumb_wh, interpolation=cv2.INTER_AREA)
    media.write_proxy(index, proxy)
    media.write_thumbnail(index, thumb)
    return thumb


def store_video_index(media: MediaStore, source: FrameSource) -> None:
    """After a full pass over a video source, write its (now exact, decoded) index into ``media``."""
    if isinstance(source, VideoFrameSource):
        for key, array in source.index.to_arrays().items():
            media.write_array(f"{VideoIndex.ARRAY_PREFIX}/{key}", array)
