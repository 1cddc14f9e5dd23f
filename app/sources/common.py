"""Small pieces shared by the frame sources."""

from __future__ import annotations

import re
from typing import Literal

# What a source is, as a project's manifest records it (a generated demo is the manifest's third kind).
SourceKind = Literal["video", "images"]

# Frame rate given to image folders and to videos whose timestamps say nothing about it.
DEFAULT_IMAGE_FPS = 24.0


def natural_key(name: str) -> list[object]:
    """Sort key that orders "frame2" before "frame10"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def check_index(index: int, frame_count: int) -> int:
    i = int(index)
    if i < 0:
        i += frame_count
    if not 0 <= i < frame_count:
        raise IndexError(f"frame {index} is out of range (0..{frame_count - 1})")
    return i


# The largest frame Celstudio reads: 8K (8192x4320 = 35 MP) with room to spare, at most 16384
# pixels a side. Set explicitly so a header claiming 100000x100000 is refused from its size alone,
# before any decoder allocates for it (PIL's own bomb guard only warns below 179 MP).
MAX_FRAME_SIDE = 16384
MAX_FRAME_PIXELS = 40_000_000


def frame_size_error(name: str, width: int, height: int) -> str | None:
    """Why a frame of ``width`` x ``height`` is refused, or None when its size is fine."""
    if max(width, height) > MAX_FRAME_SIDE or width * height > MAX_FRAME_PIXELS:
        return (
            f"{name} is {width}x{height} pixels, larger than Celstudio reads (at most "
            f"{MAX_FRAME_PIXELS // 1_000_000} megapixels and {MAX_FRAME_SIDE} pixels a side)."
        )
    return None
