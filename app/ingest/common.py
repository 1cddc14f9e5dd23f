"""Small pieces shared by the frame sources."""

from __future__ import annotations

import re

# Frame rate given to image folders and to videos whose timestamps say nothing about it.
DEFAULT_IMAGE_FPS = 24.0


def natural_key(name: str) -> list[object]:
    """Sort key that orders "frame2" before "frame10"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _check_index(index: int, frame_count: int) -> int:
    i = int(index)
    if i < 0:
        i += frame_count
    if not 0 <= i < frame_count:
        raise IndexError(f"frame {index} is out of range (0..{frame_count - 1})")
    return i
