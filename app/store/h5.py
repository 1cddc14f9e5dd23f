"""Shared HDF5 plumbing for the layer and media files: one chunk per frame, lazily created datasets.

Every fixed-size dataset is created with HDF5's Fletcher-32 filter, a checksum per chunk, so a chunk
with flipped bits fails its read instead of decoding to wrong pixels. Fletcher-32 passes a chunk
zeroed together with its checksum (a sum of zeros is zero), so layer frames also carry a CRC-32 in
``index.db`` (see `app.store.layers`). Files made before the checksums keep working.

h5py serialises calls with a global lock, but a dataset created by one thread must be seen by the
others, so every access goes through this class's own lock as well.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from app.errors import DiskFull, ProjectDamaged, ProjectError, ProjectLocked, ProjectReadOnly, is_disk_full

STR_DTYPE = h5py.string_dtype(encoding="utf-8")


class H5Frames:
    """An HDF5 file of per-frame datasets with shape ``(frame_count, *frame_shape)``."""

    def __init__(
        self, path: Path, frame_count: int, *, create: bool = False, read_only: bool = False, advice: str = ""
    ) -> None:
        self.path = path
        self.frame_count = frame_count
        self.read_only = read_only
        self.advice = advice  # appended to messages about a damaged frame (how to rebuild it)
        self.lock = threading.RLock()
        try:
            if read_only:
                self.file = _open_read_only(path, retry=True)
            else:
                self.file = h5py.File(path, "w-" if create else "r+")
        except FileExistsError as exc:
            raise ProjectError(f"{path} already exists.") from exc
        except OSError as exc:
            if create or not path.exists():
                raise ProjectError(f"{path} cannot be created ({exc}).") from exc
            if _is_lock_error(exc):
                from app.store.lock import read_holder

                pid = int(read_holder(path.parent).get("pid", 0) or 0)
                raise ProjectLocked(
                    f"{path.name} is in use by another Celstudio process{f' (pid {pid})' if pid else ''}; "
                    "close it there, or open the project read-only.",
                    pid,
                ) from exc
            raise ProjectDamaged(
                f"The project file {path.name} is damaged and cannot be opened ({_short(exc)}).",
            ) from exc

    def dataset(
        self,
        name: str,
        frame_shape: tuple[int, ...],
        dtype: Any,
        *,
        compression: str | None = "gzip",
        level: int | None = 1,
        frames_per_chunk: int = 1,
    ) -> h5py.Dataset:
        """Get or create ``name``; each chunk holds ``frames_per_chunk`` frames, so a read touches one chunk."""
        with self.lock:
            if name in self.file:
                return self.file[name]
            if self.read_only:
                raise ProjectReadOnly(f"{self.path.name} is open read-only; {name} cannot be created.")
            opts: dict[str, Any] = {}
            if np.dtype(dtype).kind != "O":
                opts["fletcher32"] = True  # a checksum per chunk (variable-length data has none)
            if compression is not None:
                opts["compression"] = compression
                if compression == "gzip":
                    opts["compression_opts"] = level
            n = max(self.frame_count, 1)
            # Per-frame images: one frame (or a few tiny ones) per chunk. Per-frame scalars: one chunk of many.
            chunks = (min(frames_per_chunk, n), *frame_shape) if frame_shape else (min(4096, n),)
            return self.file.create_dataset(
                name,
                shape=(self.frame_count, *frame_shape),
                dtype=dtype,
                chunks=chunks,
                **opts,
            )

    def write_row(self, name: str, frame: int, data: np.ndarray, *, compression: str | None, level: int | None) -> None:
        self.check_frame(frame)
        if self.read_only:
            raise ProjectReadOnly(f"{self.path.name} is open read-only; frame {frame} of {name} cannot be written.")
        with self.lock:
            try:
                self.dataset(name, data.shape, data.dtype, compression=compression, level=level)[frame] = data
            except (OSError, RuntimeError, KeyError) as exc:
                raise write_error(exc, self.path, f"frame {frame} of {name}", data.nbytes) from exc

    def reopen(self) -> None:
        """Read-only files: drop HDF5's cached view of the file and read it afresh (a writer in
        another process has moved chunks since)."""
        with self.lock:
            if self.file.id.valid:
                self.file.close()
            try:
                self.file = _open_read_only(self.path, retry=True)
            except OSError as exc:
                raise ProjectDamaged(f"The project file {self.path.name} cannot be opened ({_short(exc)}).") from exc

    def has(self, name: str) -> bool:
        with self.lock:
            return name in self.file

    def check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.frame_count:
            raise IndexError(f"frame {frame} is outside 0..{self.frame_count - 1}")

    def read_row(self, name: str, frame: int) -> np.ndarray | None:
        self.check_frame(frame)
        with self.lock:
            try:
                # The lookup is inside: beside a live writer it can meet moved metadata too, and
                # must be reported (and retried by a reader) like a chunk that moved.
                if name not in self.file:
                    return None
                return np.asarray(self.file[name][frame])
            except (OSError, RuntimeError, KeyError) as exc:
                raise FrameDamaged(
                    f"Frame {frame} of {name} in {self.path.name} is damaged and cannot be read "
                    f"({_short(exc)}).{' ' + self.advice if self.advice else ''}",
                    name,
                    frame,
                ) from exc

    def raw_chunk_ok(self, name: str, frame: int) -> bool:
        """A cheap check of a one-frame chunk without decoding it: stored, and not all zeros (no
        compressed chunk is)."""
        with self.lock:
            ds = self.file.get(name)
            if ds is None or ds.chunks is None or ds.chunks[0] != 1:
                return True
            try:
                _mask, raw = ds.id.read_direct_chunk((frame,) + (0,) * (ds.ndim - 1))
            except (OSError, RuntimeError, KeyError, ValueError):
                return False
        return len(raw) > 0 and any(raw)

    def flush(self) -> None:
        with self.lock:
            if self.file.id.valid and not self.read_only:
                try:
                    self.file.flush()
                except (OSError, RuntimeError) as exc:
                    raise write_error(exc, self.path, "its buffers", 0) from exc

    def close(self) -> None:
        with self.lock:
            if not self.file.id.valid:
                return
            try:
                self.file.flush()
            except (OSError, RuntimeError):
                # A damaged file is being abandoned (and moved aside); there is nothing left to save.
                logging.getLogger(__name__).warning("could not flush %s while closing", self.path)
            finally:
                self.file.close()


READ_RETRIES = 6  # a reader beside a live writer retries this often before it reports anything


def _open_read_only(path: Path, *, retry: bool = False) -> h5py.File:
    """Open without taking HDF5's file lock, so a reader (info, export) works while another process
    writes; within one process HDF5 shares the open file and insists on the same locking flag.

    A writer in another process may be half-way through a flush; the reader then tries again while
    that writer holds the project lock."""
    from app.store.lock import live_holder

    for attempt in range(READ_RETRIES):
        try:
            try:
                return h5py.File(path, "r", locking=False)
            except OSError as exc:
                if "locking flag" not in str(exc):
                    raise
                return h5py.File(path, "r")
        except OSError:
            if not retry or attempt == READ_RETRIES - 1 or not live_holder(path.parent):
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "unable to lock file" in text or ("lock" in text and "resource temporarily unavailable" in text)


class FrameDamaged(ProjectDamaged):
    """One frame of one dataset failed its read (checksum mismatch or unreadable chunk)."""

    def __init__(self, message: str, dataset: str, frame: int) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.frame = frame


def disk_full(folder: Path, needed_bytes: int) -> DiskFull:
    """The one-line message for a full disk: the folder and about how much more space is needed."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    need = max(needed_bytes, 1 << 20)
    return DiskFull(
        f"The disk holding {folder} is full ({_mib(free)} free); writing needs at least {_mib(need)} more. "
        "Free some space and run again; every confirmed correction is kept."
    )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


def write_error(exc: BaseException, path: Path, what: str, nbytes: int) -> ProjectError:
    """A failed write as the user should read it: a full disk is not damage."""
    if is_disk_full(exc):
        return disk_full(path.parent, nbytes)
    return ProjectDamaged(f"Writing {what} to {path.name} failed ({_short(exc)}).")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
