"""A whole-frame white flash undone, so the characters under it are segmented as in any drawing.

A flash of strength f lifts every pixel towards white: ``seen = base (1 - f) + 255 f``. The segment
stage used to give such a frame the labels of the last drawing it tracked, warped by the camera
(`ClassicalSegmenter.segment_shot`): right when nothing moved, a character's width wrong when two
characters cross under the flash. When enough of the colour range is left (f <= `MAX_FLASH`), the
frame is brought back to ``base`` instead and segmented like the others; the effects stage still
separates the flash from the original frame. The shot's plate and camera read a flash stronger than
`MAX_PLATE_FLASH` as it is: undone, each of its few levels left is many, and that noise in the plate's
frames can make a moving shot look still (its characters then found in the plate itself). Decoded video
carries a codec's noise, which undoing a strong flash (`strongly_undone`) stretches too: the segmenter
makes no object on such a frame and keeps the last drawing's objects where its background no longer
agrees with the plate (`segmentation.STRONG_AGREE`, `segmentation.NO_NEW_ON_STRONG`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from models.base import Image
from models.classical.effects import flash_strength
from models.classical.geometry import model_scale, resize

FLASH = 0.5  # `flash_strength` above which the segment stage treats a frame as a flash
MAX_FLASH = 0.97  # strongest flash undone: 3 % of the colour range (8 levels) left
MAX_PLATE_FLASH = 0.8  # strongest flash undone in the frames the shot's plate and camera read


def _black(image: Image) -> float:
    """The frame's black level: the 0.5th percentile of each pixel's darkest channel (line art)."""
    small = resize(image, model_scale(image.shape, 160))
    return float(np.percentile(small.min(axis=2), 0.5))


def flash_strengths(frames: Sequence[Image]) -> list[float]:
    """Each frame's white flash strength f (0 for a frame the segment stage does not treat as a flash,
    `flash_strength` <= `FLASH`), from its black level against the shot's other frames' (their
    median): ``black = black_0 (1 - f) + 255 f``. A shot with no unflashed frame has none."""
    flashed = [flash_strength(np.asarray(f)) > FLASH for f in frames]
    if not any(flashed) or all(flashed):
        return [0.0] * len(frames)
    black0 = float(np.median([_black(f) for f, fl in zip(frames, flashed, strict=True) if not fl]))
    return [(_black(f) - black0) / max(1.0, 255.0 - black0) if fl else 0.0 for f, fl in zip(frames, flashed, strict=True)]


def unflash_shot(frames: Sequence[Image], *, for_plate: bool = False,
                 strengths: Sequence[float] | None = None) -> list[Image]:
    """The shot's frames with each flash the segment stage would see (`flash_strength` > `FLASH`)
    undone when its strength is at most `MAX_FLASH` (`MAX_PLATE_FLASH` ``for_plate``: the frames the
    shot's background model reads); every other frame is returned as it is. ``strengths``: the
    frames' `flash_strengths`, when the caller has them."""
    if strengths is None:
        strengths = flash_strengths(frames)
    bound = MAX_PLATE_FLASH if for_plate else MAX_FLASH
    out: list[Image] = []
    for frame, f in zip(frames, strengths, strict=True):
        if not 0.0 < f <= bound:
            out.append(frame)
            continue
        base = (frame.astype(np.float32) - 255.0 * f) / (1.0 - f)
        undone: NDArray[np.uint8] = np.clip(base + 0.5, 0, 255).astype(np.uint8)
        out.append(undone)
    return out


def strongly_undone(strengths: Sequence[float]) -> list[bool]:
    """Frames whose flash the segmenter undoes beyond what the plate reads (`MAX_PLATE_FLASH` < f <=
    `MAX_FLASH`): each level left of them is many, and their noise (a codec's blocks, rounding) reads
    as light added over the plate."""
    return [MAX_PLATE_FLASH < f <= MAX_FLASH for f in strengths]
