"""Shared HDF5 plumbing for the layer and media files: one chunk per frame, lazily created datasets.

h5py serialises calls with a global lock, but a dataset created by one thread must be seen by the
others, so every access goes through this class's own lock as well.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from app.errors import ProjectDamaged, ProjectError

STR_DTYPE = h5py.string_dtype(encoding="utf-8")


class H5Frames:
    """An HDF5 file of per-frame datasets with shape ``(frame_count, *frame_shape)``."""

    def __init__(self, path: Path, frame_count: int, *, create: bool = False) -> None:
        self.path = path
        self.frame_count = frame_count
        self.lock = threading.RLock()
        try:
            self.file = h5py.File(path, "w-" if create else "a")
        except FileExistsError as exc:
            raise ProjectError(f"{path} already exists.") from exc
        except OSError as exc:
            if create or not path.exists():
                raise ProjectError(f"{path} cannot be created ({exc}).") from exc
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
            opts: dict[str, Any] = {}
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
        with self.lock:
            try:
                self.dataset(name, data.shape, data.dtype, compression=compression, level=level)[frame] = data
            except (OSError, RuntimeError, KeyError) as exc:
                raise ProjectDamaged(f"Frame {frame} of {name} in {self.path.name} cannot be written ({_short(exc)}).") from exc

    def has(self, name: str) -> bool:
        with self.lock:
            return name in self.file

    def check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.frame_count:
            raise IndexError(f"frame {frame} is outside 0..{self.frame_count - 1}")

    def read_row(self, name: str, frame: int) -> np.ndarray | None:
        self.check_frame(frame)
        with self.lock:
            if name not in self.file:
                return None
            try:
                return np.asarray(self.file[name][frame])
            except (OSError, RuntimeError, KeyError) as exc:
                raise ProjectDamaged(
                    f"Frame {frame} of {name} in {self.path.name} cannot be read ({_short(exc)})."
                ) from exc

    def flush(self) -> None:
        with self.lock:
            if self.file.id.valid:
                try:
                    self.file.flush()
                except (OSError, RuntimeError) as exc:
                    raise ProjectDamaged(f"{self.path.name} cannot be written ({_short(exc)}).") from exc

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


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
