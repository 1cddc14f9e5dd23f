"""Save and load the demo's exact ground truth as one HDF5 file (one LZF chunk per frame per layer).

Datasets (N frames): ``image``, ``clean``, ``foreground``, ``effect_rgb`` uint8 (N, H, W, 3);
``labels`` uint8 (N, H, W); ``alpha``, ``effects`` float32 (N, H, W) in [0, 1]. The root attribute
``meta`` is JSON: size, fps, seed, ``shot_starts``, the cast (id, name, identity, colour), and per
frame the visible ``objects`` and ``kinds`` ("normal", "flash", "impact").
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from app.demo.generator import LABEL_THRESHOLD, GeneratedFrame, GeneratedVideo
from app.errors import InputError

FORMAT_VERSION = 1
_RGB = ("image", "clean", "foreground", "effect_rgb")
_MAPS = {"labels": np.uint8, "alpha": np.float32, "effects": np.float32}


class GroundTruthWriter:
    """Writes frames of ``video`` as they are rendered, so a single pass can also fill a project."""

    def __init__(self, path: Path, video: GeneratedVideo) -> None:
        self.path = Path(path)
        self.video = video
        self.h5 = h5py.File(self.path, "w")
        n, h, w = video.frame_count, video.height, video.width
        for name in _RGB:
            self.h5.create_dataset(name, (n, h, w, 3), np.uint8, chunks=(1, h, w, 3), compression="lzf",
                                   shuffle=True)
        for name, dtype in _MAPS.items():
            self.h5.create_dataset(name, (n, h, w), dtype, chunks=(1, h, w), compression="lzf",
                                   shuffle=True)
        self.objects: list[list[int]] = [[] for _ in range(n)]
        self.kinds: list[str] = ["normal"] * n

    def add(self, frame: GeneratedFrame) -> None:
        i = frame.index
        for name in (*_RGB, *_MAPS):
            self.h5[name][i] = getattr(frame, name)
        self.objects[i] = list(frame.objects)
        self.kinds[i] = frame.kind

    def close(self) -> None:
        v = self.video
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "seed": v.seed,
            "width": v.width,
            "height": v.height,
            "fps": v.fps,
            "frame_count": v.frame_count,
            "shot_starts": v.shot_starts,
            "label_threshold": LABEL_THRESHOLD,
            "cast": [asdict(c) for c in v.cast],
            "objects": self.objects,
            "kinds": self.kinds,
        }
        self.h5.attrs["meta"] = json.dumps(meta)
        self.h5.close()


def save_ground_truth(video: GeneratedVideo, path: Path) -> None:
    """Render every frame of ``video`` and write its ground truth to the HDF5 file ``path``."""
    writer = GroundTruthWriter(path, video)
    try:
        for frame in video:
            writer.add(frame)
    finally:
        writer.close()


class GroundTruth:
    """A ground-truth file opened for reading; frames are read on demand.

    Attributes
    ----------
    meta : dict
        The JSON metadata (see the module docstring).
    shot_starts : list[int]
        First frame of each shot.
    """

    def __init__(self, path: Path) -> None:
        try:
            self.h5 = h5py.File(Path(path), "r")
            self.meta: dict[str, Any] = json.loads(self.h5.attrs["meta"])
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path} is not a readable demo ground-truth file ({exc}).") from exc
        self.shot_starts: list[int] = list(self.meta["shot_starts"])
        self.frame_count: int = int(self.meta["frame_count"])

    def __len__(self) -> int:
        return self.frame_count

    def layer(self, name: str, index: int) -> np.ndarray:
        """One layer (a dataset name of the module docstring) of frame ``index``."""
        return np.asarray(self.h5[name][index])

    def frame(self, index: int) -> GeneratedFrame:
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} is outside 0..{self.frame_count - 1}")
        shot = int(np.searchsorted(self.shot_starts, index, side="right") - 1)
        get = self.layer
        return GeneratedFrame(
            image=get("image", index), labels=get("labels", index), alpha=get("alpha", index),
            effects=get("effects", index), clean=get("clean", index), foreground=get("foreground", index),
            effect_rgb=get("effect_rgb", index), index=index, shot=shot, kind=self.meta["kinds"][index],
            objects=list(self.meta["objects"][index]),
        )

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> GroundTruth:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def load_ground_truth(path: Path) -> GroundTruth:
    """Open a ground-truth file written by `save_ground_truth` (close it, or use ``with``)."""
    return GroundTruth(path)
