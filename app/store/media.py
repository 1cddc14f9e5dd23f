"""``media.h5``: what the timeline and viewer read fast - proxies, thumbnails - plus imported frames
and the source's frame index.

Proxies (long side 640, JPEG) are what the timeline and the frame view show while scrubbing.
Imported image folders keep their source files' bytes here (or PNG), generated demos PNG.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import h5py
import numpy as np

from app.errors import ProjectError
from app.store.h5 import FrameDamaged, H5Frames

MEDIA_FILE = "media.h5"
PROXY_LONG_SIDE = 640
THUMB_HEIGHT = 54
PROXY_JPEG_QUALITY = 92
REIMPORT_ADVICE = "Re-import the media from the source (`celstudio reimport`, or Re-import media in the app)."


def proxy_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of a proxy: long side 640 (never upscaled), even dimensions."""
    scale = min(1.0, PROXY_LONG_SIDE / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    return max(2, round(width * THUMB_HEIGHT / height)), THUMB_HEIGHT


def _decode_bytes(data: np.ndarray) -> np.ndarray | None:
    """An encoded 8-bit colour image as RGB, or None when it is not one."""
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint8 or decoded.ndim != 3 or decoded.shape[2] != 3:
        return None
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


_VLEN_REF = struct.Struct("<IQI")  # a stored variable-length entry: length, heap collection address, object index
_HEAP_HEADER = struct.Struct("<4sB3xQ")  # "GCOL", version, reserved, collection size
_HEAP_OBJECT = struct.Struct("<HH4xQ")  # object index, reference count, reserved, object size


def _collection_ok(path: Path, address: int) -> bool:
    """Walk an HDF5 global heap collection the way HDF5 does, refusing what would hang or overrun it."""
    try:
        with open(path, "rb") as fh:
            fh.seek(address)
            head = fh.read(_HEAP_HEADER.size)
            if len(head) < _HEAP_HEADER.size:
                return False
            signature, version, size = _HEAP_HEADER.unpack(head)
            if signature != b"GCOL" or version != 1 or size < 4096 or size > 1 << 31:
                return False
            body = head + fh.read(size - _HEAP_HEADER.size)
    except OSError:
        return False
    if len(body) < size:
        return False
    pos = _HEAP_HEADER.size
    while pos < size:
        if pos + _HEAP_OBJECT.size > size:
            return True  # the tail is too short for an object: free space
        index, _refs, length = _HEAP_OBJECT.unpack_from(body, pos)
        need = length if index == 0 else _HEAP_OBJECT.size + (length + 7) // 8 * 8
        if need <= 0 or pos + need > size:
            return False  # zero would never advance (HDF5 spins); beyond the end is torn
        pos += need
    return True


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class MediaStore:
    """Per-frame media of one project; thread-safe."""

    def __init__(
        self, path: Path, frame_count: int, width: int, height: int, *, create: bool = False, read_only: bool = False
    ) -> None:
        self.h5 = H5Frames(path, frame_count, create=create, read_only=read_only, advice=REIMPORT_ADVICE)
        self.frame_count = frame_count
        self.width = width
        self.height = height
        self.proxy_wh = proxy_size(width, height)
        self.thumb_wh = thumbnail_size(width, height)
        self._heaps_ok: set[int] = set()  # heap collections already checked (each holds many entries)

    def write_frame(self, index: int, image: np.ndarray, original: bytes | None = None) -> None:
        """Store a full-resolution frame losslessly.

        ``original`` is the source file's bytes (a jpg/png/webp of an image folder): kept as they are
        when they decode to exactly ``image``, which is far smaller than any re-encoding of a photo-like
        frame. Otherwise the frame is stored as PNG (fast level 1; flat anime colours compress well).
        """
        self.h5.check_frame(index)
        if image.shape != (self.height, self.width, 3):
            raise ValueError(f"frame must be {(self.height, self.width, 3)}, got {image.shape}")
        data = np.frombuffer(original, np.uint8) if original is not None else None
        decoded = _decode_bytes(data) if data is not None else None
        if data is None or decoded is None or not np.array_equal(decoded, image):
            bgr = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            if not ok:
                raise ValueError(f"frame {index} could not be encoded")
            data = buf.ravel()
        with self.h5.lock:
            self.h5.dataset("frames_encoded", (), h5py.vlen_dtype(np.uint8), compression=None)[index] = data
            self.h5.dataset("frames_written", (), np.uint8, compression=None)[index] = 1

    def has_frame(self, index: int) -> bool:
        row = self.h5.read_row("frames_written", index)
        return row is not None and bool(row)

    def read_frame(self, index: int) -> np.ndarray:
        if not self.has_frame(index):
            # Every frame of an image or generated project is stored at import: a missing one is lost.
            raise FrameDamaged(
                f"Frame {index} is missing from {self.h5.path.name}. {REIMPORT_ADVICE}", "frames_encoded", index
            )
        return self._decode("frames_encoded", index)

    def _decode(self, name: str, index: int) -> np.ndarray:
        if not self._heap_ok(name, index):
            self.h5.flush()  # data this process wrote may still sit in HDF5's cache: look again
            if not self._heap_ok(name, index):
                raise FrameDamaged(
                    f"Frame {index} of {name} in {self.h5.path.name} is damaged (its stored bytes are gone). "
                    f"{REIMPORT_ADVICE}",
                    name,
                    index,
                )
        row = self.h5.read_row(name, index)
        data = np.asarray(row.item() if row is not None and row.dtype == object else row, dtype=np.uint8)
        image = _decode_bytes(data)
        if image is None:
            raise FrameDamaged(
                f"Frame {index} of {name} in {self.h5.path.name} is damaged and cannot be decoded. {REIMPORT_ADVICE}",
                name,
                index,
            )
        return image

    def _heap_ok(self, name: str, index: int) -> bool:
        """Check, outside HDF5, the heap that holds a variable-length entry before HDF5 reads it.

        HDF5 loops forever on a global heap whose object headers were zeroed (an object of index 0
        and size 0 never advances its parser), holding h5py's global lock: the whole app would
        freeze. So the entry's heap collection is read from the file and walked here first.
        """
        with self.h5.lock:
            ds = self.h5.file.get(name)
            if ds is None or ds.chunks is None or ds.compression is not None or ds.fletcher32:
                return True  # not the plain layout this check understands; HDF5 reads it
            start = index // ds.chunks[0] * ds.chunks[0]
            try:
                _mask, raw = ds.id.read_direct_chunk((start,))
            except (OSError, RuntimeError, KeyError, ValueError):
                return True  # never written: HDF5 returns the fill value without touching a heap
            offset = (index - start) * _VLEN_REF.size
            if offset + _VLEN_REF.size > len(raw):
                return False
            length, address, _obj = _VLEN_REF.unpack_from(raw, offset)
            if length == 0:
                return True
            base = self.h5.file.userblock_size
            if address in self._heaps_ok:
                return True
            ok = _collection_ok(self.h5.path, base + address)
            if ok:
                self._heaps_ok.add(address)
            return ok

    def check_size(self, manifest_field: str = "width'/'height") -> None:
        """Refuse a manifest whose size disagrees with the thumbnails made at import (e.g. width and
        height swapped by hand), before a run computes results that cannot be stored."""
        with self.h5.lock:
            ds = self.h5.file.get("thumbnails")
            shape = None if ds is None else tuple(ds.shape)
        w, h = self.thumb_wh
        if shape is not None and len(shape) == 4 and (shape[0] != self.frame_count or shape[1:3] != (h, w)):
            raise ProjectError(
                f"The project manifest project.json has bad fields '{manifest_field}' or 'frame_count': "
                f"{self.width}x{self.height}, {self.frame_count} frames, but {self.h5.path.name} holds "
                f"{shape[0]} thumbnails of {shape[2]}x{shape[1]} made from the source at import."
            )

    def write_proxy(self, index: int, image: np.ndarray) -> None:
        """Store a proxy as JPEG (quality 92): ~10x smaller than raw, and a decode is about a millisecond."""
        self.h5.check_frame(index)
        bgr = cv2.cvtColor(np.ascontiguousarray(_fit(image, self.proxy_wh)), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PROXY_JPEG_QUALITY])
        if not ok:
            raise ValueError(f"proxy of frame {index} could not be encoded")
        with self.h5.lock:
            ds = self.h5.dataset("proxies_jpeg", (), h5py.vlen_dtype(np.uint8), compression=None)
            ds[index] = buf.ravel()
            self.h5.dataset("proxies_written", (), np.uint8, compression=None)[index] = 1

    def has_proxy(self, index: int) -> bool:
        row = self.h5.read_row("proxies_written", index)
        return row is not None and bool(row)

    def read_proxy(self, index: int) -> np.ndarray:
        if not self.has_proxy(index):
            raise KeyError(f"frame {index} has no proxy")
        return self._decode("proxies_jpeg", index)

    def write_thumbnail(self, index: int, image: np.ndarray) -> None:
        self.h5.check_frame(index)
        w, h = self.thumb_wh
        with self.h5.lock:
            # Thumbnails are tiny: 64 per chunk, so drawing a timeline strip reads a handful of chunks.
            ds = self.h5.dataset("thumbnails", (h, w, 3), np.uint8, compression="lzf", level=None, frames_per_chunk=64)
            ds[index] = _fit(image, self.thumb_wh)

    def read_thumbnail(self, index: int) -> np.ndarray:
        row = self.h5.read_row("thumbnails", index)
        if row is None:
            raise KeyError(f"frame {index} has no thumbnail")
        return row

    def write_array(self, name: str, array: np.ndarray) -> None:
        """Store a whole array (e.g. ``video_index/pts``); replaces any earlier one."""
        with self.h5.lock:
            key = f"arrays/{name}"
            if key in self.h5.file:
                del self.h5.file[key]
            self.h5.file.create_dataset(key, data=np.asarray(array))

    def read_array(self, name: str) -> np.ndarray | None:
        with self.h5.lock:
            key = f"arrays/{name}"
            return np.asarray(self.h5.file[key][()]) if key in self.h5.file else None

    def read_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Every array stored under ``prefix/`` (e.g. ``video_index``), keyed by its short name."""
        with self.h5.lock:
            group = self.h5.file.get(f"arrays/{prefix}")
            if group is None:
                return {}
            return {k: np.asarray(v[()]) for k, v in group.items()}

    def flush(self) -> None:
        self.h5.flush()

    def close(self) -> None:
        self.h5.close()
